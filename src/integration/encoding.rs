//! The text encodings of the files Excel writes, read as UTF-8: what a bulk load's parser sees.
//!
//! - UTF-8, with or without a byte order mark ("CSV UTF-8 (kommaavgränsad)").
//! - UTF-16 LE or BE with a byte order mark ("Unicode-text", tab-separated).
//! - Windows-1252 ("CSV (semikolonavgränsad)" on a Swedish Windows): chosen when the first byte
//!   that is not ASCII does not begin a UTF-8 sequence. Until then the two agree byte for byte,
//!   so nothing read before the choice is read wrong; in Swedish text the first `å`, `ä` or `ö`
//!   decides.
//!
//! Anything else (a workbook instead of CSV, UTF-16 without its mark, a file whose bytes turn
//! from UTF-8 to something else) is one [`EncodingError`] that says how to save the file from
//! Excel. The decoder streams: it holds at most a few kilobytes whatever the file's size.

use std::io::Read;

use encoding_rs::{Decoder, UTF_16BE, UTF_16LE, WINDOWS_1252};

/// How to save a file that this service reads, in the words of a Swedish Excel.
pub const SAVE_AS: &str = "In Excel, choose Arkiv → Spara som → “CSV UTF-8 (kommaavgränsad) (*.csv)” \
     and load that file (“CSV (semikolonavgränsad)” and “Unicode-text” are read too)";

/// Why a file's bytes are not text this service reads, with the line it was noticed on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodingError {
    pub line: u64,
    pub message: String,
}

impl std::fmt::Display for EncodingError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for EncodingError {}

/// The encoding a file turned out to have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// Not known yet: everything so far was ASCII.
    Ascii,
    Utf8,
    Windows1252,
    Utf16Le,
    Utf16Be,
}

enum State {
    /// At the start: a byte order mark, or a file type, is looked for.
    Start,
    /// ASCII so far.
    Ascii,
    Utf8,
    /// Windows-1252 or UTF-16, through encoding_rs.
    Decoding(Decoder),
}

/// A reader of a file's bytes that yields them as UTF-8 (without a byte order mark).
pub struct Decoded<R> {
    inner: R,
    state: State,
    encoding: Encoding,
    /// Bytes read from `inner` and not decoded yet.
    input: Vec<u8>,
    /// Decoded bytes not handed out yet, from `out_pos`.
    out: Vec<u8>,
    out_pos: usize,
    eof: bool,
    /// Newlines handed out so far (for the line of an error).
    newlines: u64,
}

const CHUNK: usize = 16 * 1024;

impl<R: Read> Decoded<R> {
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            state: State::Start,
            encoding: Encoding::Ascii,
            input: Vec::with_capacity(CHUNK),
            out: Vec::with_capacity(CHUNK * 3),
            out_pos: 0,
            eof: false,
            newlines: 0,
        }
    }

    /// The encoding found so far.
    pub fn encoding(&self) -> Encoding {
        self.encoding
    }

    fn error(&self, message: impl Into<String>) -> std::io::Error {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            EncodingError {
                line: self.newlines + 1,
                message: message.into(),
            },
        )
    }

    fn fill(&mut self) -> std::io::Result<()> {
        if self.eof {
            return Ok(());
        }
        let start = self.input.len();
        self.input.resize(start + CHUNK, 0);
        let n = loop {
            match self.inner.read(&mut self.input[start..]) {
                Ok(n) => break n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.input.truncate(start);
                    return Err(e);
                }
            }
        };
        self.input.truncate(start + n);
        if n == 0 {
            self.eof = true;
        }
        Ok(())
    }

    fn emit(&mut self, bytes: &[u8]) {
        self.newlines += bytes.iter().filter(|b| **b == b'\n').count() as u64;
        self.out.extend_from_slice(bytes);
    }

    /// Decodes what can be decoded of `input` into `out`; what is left waits for more input.
    fn step(&mut self) -> std::io::Result<()> {
        loop {
            match &mut self.state {
                State::Start => {
                    if self.input.len() < 4 && !self.eof {
                        return Ok(());
                    }
                    let head = &self.input[..self.input.len().min(4)];
                    if head.starts_with(b"PK\x03\x04") {
                        return Err(self.error(format!(
                            "this is an Excel workbook (.xlsx), not a CSV file. {SAVE_AS}"
                        )));
                    }
                    if head.starts_with(&[0xD0, 0xCF, 0x11, 0xE0]) {
                        return Err(self.error(format!(
                            "this is an old Excel workbook (.xls), not a CSV file. {SAVE_AS}"
                        )));
                    }
                    let (skip, state, encoding) = if head.starts_with(&[0xEF, 0xBB, 0xBF]) {
                        (3, State::Utf8, Encoding::Utf8)
                    } else if head.starts_with(&[0xFF, 0xFE]) {
                        let d = UTF_16LE.new_decoder_without_bom_handling();
                        (2, State::Decoding(d), Encoding::Utf16Le)
                    } else if head.starts_with(&[0xFE, 0xFF]) {
                        let d = UTF_16BE.new_decoder_without_bom_handling();
                        (2, State::Decoding(d), Encoding::Utf16Be)
                    } else if head.len() >= 4
                        && ((head[1] == 0 && head[3] == 0 && head[0] != 0)
                            || (head[0] == 0 && head[2] == 0 && head[1] != 0))
                    {
                        return Err(self.error(format!(
                            "the file looks like UTF-16 without its byte order mark, which \
                             cannot be read safely. {SAVE_AS}"
                        )));
                    } else {
                        (0, State::Ascii, Encoding::Ascii)
                    };
                    self.input.drain(..skip);
                    self.state = state;
                    self.encoding = encoding;
                }
                State::Ascii => {
                    let ascii = self.input.iter().take_while(|b| b.is_ascii()).count();
                    let bytes: Vec<u8> = self.input.drain(..ascii).collect();
                    self.emit(&bytes);
                    if self.input.is_empty() {
                        return Ok(());
                    }
                    // The first byte that is not ASCII decides.
                    let probe = &self.input[..self.input.len().min(4)];
                    match std::str::from_utf8(probe) {
                        Ok(_) => {}
                        Err(e) if e.valid_up_to() > 0 => {}
                        Err(e) if e.error_len().is_none() && !self.eof => return Ok(()),
                        Err(_) => {
                            self.state =
                                State::Decoding(WINDOWS_1252.new_decoder_without_bom_handling());
                            self.encoding = Encoding::Windows1252;
                            continue;
                        }
                    }
                    self.state = State::Utf8;
                    self.encoding = Encoding::Utf8;
                }
                State::Utf8 => {
                    let valid = match std::str::from_utf8(&self.input) {
                        Ok(_) => self.input.len(),
                        Err(e) => {
                            if e.error_len().is_some() || self.eof {
                                let valid = e.valid_up_to();
                                let bytes: Vec<u8> = self.input.drain(..valid).collect();
                                self.emit(&bytes);
                                return Err(self.error(format!(
                                    "the file is UTF-8 up to this line, but not from here on: it \
                                     mixes two encodings. {SAVE_AS}"
                                )));
                            }
                            e.valid_up_to()
                        }
                    };
                    let bytes: Vec<u8> = self.input.drain(..valid).collect();
                    self.emit(&bytes);
                    return Ok(());
                }
                State::Decoding(_) => {
                    let State::Decoding(mut decoder) =
                        std::mem::replace(&mut self.state, State::Ascii)
                    else {
                        unreachable!("matched above");
                    };
                    let done = self.decode(&mut decoder);
                    self.state = State::Decoding(decoder);
                    return done;
                }
            }
        }
    }
}

impl<R: Read> Decoded<R> {
    /// Decodes `input` with `decoder` (Windows-1252 or UTF-16) as far as it goes.
    fn decode(&mut self, decoder: &mut Decoder) -> std::io::Result<()> {
        loop {
            let mut text = String::with_capacity(self.input.len() * 3 + 8);
            let (result, read) =
                decoder.decode_to_string_without_replacement(&self.input, &mut text, self.eof);
            self.input.drain(..read);
            self.emit(text.as_bytes());
            match result {
                encoding_rs::DecoderResult::Malformed(_, _) => {
                    return Err(self.error(format!(
                        "the file's text breaks off here (a broken UTF-16 character). {SAVE_AS}"
                    )));
                }
                encoding_rs::DecoderResult::InputEmpty => return Ok(()),
                encoding_rs::DecoderResult::OutputFull => {}
            }
        }
    }
}

impl<R: Read> Read for Decoded<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.out_pos == self.out.len() {
            self.out.clear();
            self.out_pos = 0;
            if self.eof && self.input.is_empty() {
                return Ok(0);
            }
            self.fill()?;
            self.step()?;
        }
        let n = buf.len().min(self.out.len() - self.out_pos);
        buf[..n].copy_from_slice(&self.out[self.out_pos..self.out_pos + n]);
        self.out_pos += n;
        Ok(n)
    }
}

/// The encoding error inside an I/O error, if that is what it is.
pub fn encoding_error(e: &std::io::Error) -> Option<&EncodingError> {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<EncodingError>())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(bytes: &[u8]) -> Result<(String, Encoding), EncodingError> {
        // One byte at a time as well as all at once: the choice must not depend on chunking.
        struct Trickle<'a>(&'a [u8]);
        impl Read for Trickle<'_> {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                if self.0.is_empty() || buf.is_empty() {
                    return Ok(0);
                }
                buf[0] = self.0[0];
                self.0 = &self.0[1..];
                Ok(1)
            }
        }
        let mut whole = Decoded::new(bytes);
        let mut a = String::new();
        let a = whole
            .read_to_string(&mut a)
            .map(|_| a)
            .map_err(|e| encoding_error(&e).cloned().expect("an encoding error"));
        let mut trickled = Decoded::new(Trickle(bytes));
        let mut b = String::new();
        let b = trickled
            .read_to_string(&mut b)
            .map(|_| b)
            .map_err(|e| encoding_error(&e).cloned().expect("an encoding error"));
        assert_eq!(a, b);
        assert_eq!(whole.encoding(), trickled.encoding());
        a.map(|text| (text, whole.encoding()))
    }

    #[test]
    fn what_excel_writes_is_read_as_utf8() {
        let text = "namn;ort\r\n“Bra” för Härnösand;Örnsköldsvik 5 €\r\n";
        assert_eq!(
            decode(text.as_bytes()).expect("utf-8"),
            (text.to_owned(), Encoding::Utf8)
        );
        let mut bom = vec![0xEF, 0xBB, 0xBF];
        bom.extend(text.as_bytes());
        assert_eq!(
            decode(&bom).expect("bom"),
            (text.to_owned(), Encoding::Utf8)
        );
        // Windows-1252, as "CSV (semikolonavgränsad)" saves it.
        let (cp1252, _, _) = WINDOWS_1252.encode(text);
        assert!(cp1252.contains(&0xE5) || cp1252.contains(&0xD6));
        assert_eq!(
            decode(&cp1252).expect("1252"),
            (text.to_owned(), Encoding::Windows1252)
        );
        // UTF-16 with its mark, as "Unicode-text" saves it.
        let mut le = vec![0xFF, 0xFE];
        let mut be = vec![0xFE, 0xFF];
        for unit in text.encode_utf16() {
            le.extend(unit.to_le_bytes());
            be.extend(unit.to_be_bytes());
        }
        assert_eq!(
            decode(&le).expect("le"),
            (text.to_owned(), Encoding::Utf16Le)
        );
        assert_eq!(
            decode(&be).expect("be"),
            (text.to_owned(), Encoding::Utf16Be)
        );
        assert_eq!(
            decode(b"a;b\n1;2\n").expect("ascii"),
            ("a;b\n1;2\n".to_owned(), Encoding::Ascii)
        );
        assert_eq!(
            decode(b"").expect("empty"),
            (String::new(), Encoding::Ascii)
        );
    }

    #[test]
    fn what_cannot_be_read_says_how_to_save_it() {
        let workbook = decode(b"PK\x03\x04\x14\x00\x06\x00").expect_err("xlsx");
        assert!(workbook.message.contains(".xlsx"), "{}", workbook.message);
        assert!(workbook.message.contains("CSV UTF-8"));
        let mut no_bom = Vec::new();
        for unit in "namn;ort\r\n".encode_utf16() {
            no_bom.extend(unit.to_le_bytes());
        }
        assert!(
            decode(&no_bom)
                .expect_err("no bom")
                .message
                .contains("UTF-16")
        );
        // UTF-8 first (å), then a Windows-1252 byte (ö) on line 3.
        let mixed = [b"a\n\xC3\xA5\nx\xF6y\n".as_slice()].concat();
        let err = decode(&mixed).expect_err("mixed");
        assert_eq!(err.line, 3);
        assert!(err.message.contains("mixes"), "{}", err.message);
    }
}
