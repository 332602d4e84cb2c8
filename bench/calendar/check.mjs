import ICAL from 'ical.js';
import fs from 'fs';
const cal = new ICAL.Component(ICAL.parse(fs.readFileSync(process.argv[2], 'utf8')));
for (const tz of cal.getAllSubcomponents('vtimezone')) ICAL.TimezoneService.register(tz);
const api = new Map(fs.readFileSync(process.argv[3],'utf8').trim().split('\n').map(l => JSON.parse(l)).map(e => [e.id, e]));
let ok = 0, bad = [];
for (const v of cal.getAllSubcomponents('vevent')) {
  const ev = new ICAL.Event(v);
  const a = api.get(ev.uid);
  const start = ev.startDate, end = ev.endDate;
  let s, e;
  if (start.isDate) { s = start.toString(); e = end.toString(); }
  else { s = start.toJSDate().toISOString().replace('.000',''); e = end.toJSDate().toISOString().replace('.000',''); }
  const want = a.allDay ? [a.startDate, new Date(Date.parse(a.endDate+'T00:00:00Z') + 86400000).toISOString().slice(0,10)] : [a.startsAt, a.endsAt];
  const status = v.getFirstPropertyValue('status');
  if (s !== want[0] || e !== want[1] || ev.summary.replace(/^Inställt: /,'') !== a.title || (status === 'CANCELLED') !== a.cancelled) bad.push([ev.uid, s, e, want, status, a.cancelled]);
  else ok++;
}
console.log('ical.js read', ok, 'events matching the API;', bad.length, 'not:', JSON.stringify(bad.slice(0,3)));
