//! Swedish on the way in and out of files: the Swedish labels of enum values (`Fokusutmaningen`
//! for `focus`) and the Swedish column headers of CSV files (`Betyg` for `rating`). Imports
//! accept both, case- and accent-tolerant; an export with `labels=sv` writes the Swedish ones,
//! and such a file loads back unchanged. The JSON API itself speaks only the values.

/// The labels a file is written with: `sv`, Swedish headers and values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, utoipa::ToSchema)]
pub enum FileLabels {
    #[serde(rename = "sv")]
    Sv,
}

/// The Swedish labels of one enum's values. The first label of a value is the one exports
/// write; all of them (and the value itself) are read.
#[derive(Debug, Clone, Copy)]
pub struct Vocabulary {
    /// The enum's schema name in the OpenAPI document (`Challenge`).
    pub name: &'static str,
    pub values: &'static [(&'static str, &'static [&'static str])],
}

impl Vocabulary {
    /// The value `text` names: the value itself or one of its labels, whatever the case, the
    /// accents (`Pagar`), and whether words are joined by spaces, `-` or `_`.
    pub fn resolve(&self, text: &str) -> Option<&'static str> {
        let wanted = fold(text);
        self.values.iter().find_map(|(value, labels)| {
            (fold(value) == wanted || labels.iter().any(|l| fold(l) == wanted)).then_some(*value)
        })
    }

    /// The label an export writes for `value` (the value itself when it has none).
    pub fn label<'a>(&self, value: &'a str) -> &'a str {
        self.values
            .iter()
            .find(|(v, _)| *v == value)
            .and_then(|(_, labels)| labels.first().copied())
            .unwrap_or(value)
    }

    /// The values and their labels in a sentence, for documentation: `focus` (Fokusutmaningen,
    /// fokus), …
    pub fn describe(&self) -> String {
        self.values
            .iter()
            .map(|(value, labels)| format!("`{value}` ({})", labels.join(", ")))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The vocabularies of the service (handed down from the resources' registry), and which
/// vocabulary labels a cell of an object schema (`Suggestion` cells are `kind:text`, their
/// kind from `SuggestionKind`).
#[derive(Debug, Clone, Copy)]
pub struct Vocabularies {
    pub all: &'static [Vocabulary],
    /// `(object schema, vocabulary of its kind)`.
    pub kinds_of: &'static [(&'static str, &'static str)],
}

impl Vocabularies {
    pub fn get(&self, name: &str) -> Option<&'static Vocabulary> {
        self.all.iter().find(|v| v.name == name)
    }

    /// The vocabulary of the `kind` inside cells of object schema `name`.
    pub fn kind_of(&self, name: &str) -> Option<&'static Vocabulary> {
        self.kinds_of
            .iter()
            .find(|(object, _)| *object == name)
            .and_then(|(_, vocabulary)| self.get(vocabulary))
    }
}

/// The Swedish column header of every field that files carry. A field not listed keeps its
/// name.
pub const HEADERS: &[(&str, &str)] = &[
    ("id", "ID"),
    ("version", "Version"),
    ("createdAt", "Skapad"),
    ("updatedAt", "Ändrad"),
    ("name", "Namn"),
    ("kind", "Typ"),
    ("areaId", "Område-ID"),
    ("description", "Beskrivning"),
    ("municipalityIds", "Kommuner"),
    ("municipalityId", "Kommun"),
    ("coordinator", "Samordnare"),
    ("status", "Status"),
    ("externalSystem", "Externt system"),
    ("externalId", "Externt ID"),
    ("networkId", "Nätverk-ID"),
    ("email", "E-post"),
    ("phone", "Telefon"),
    ("title", "Titel"),
    ("challenge", "Utmaning"),
    ("fundingType", "Finansiering"),
    ("funder", "Finansiär"),
    ("budgetSek", "Budget (kr)"),
    ("partners", "Samarbetspartner"),
    ("startDate", "Startdatum"),
    ("endDate", "Slutdatum"),
    ("responsible", "Ansvarig"),
    ("assignmentId", "Uppdrag-ID"),
    ("year", "År"),
    ("tertial", "Tertial"),
    ("summary", "Sammanfattning"),
    ("spentSek", "Förbrukat (kr)"),
    ("forecastSek", "Prognos (kr)"),
    ("deviation", "Avvikelse"),
    ("deviationNote", "Kommentar till avvikelse"),
    ("goal", "Mål"),
    ("rating", "Betyg"),
    ("comment", "Kommentar"),
    ("suggestions", "Förslag"),
    ("vision", "Vision"),
    ("theme", "Tema"),
    ("statement", "Målformulering"),
    ("allDay", "Heldag"),
    ("startsAt", "Starttid"),
    ("endsAt", "Sluttid"),
    ("location", "Plats"),
    ("onlineUrl", "Länk"),
    ("organiser", "Arrangör"),
    ("capacity", "Antal platser"),
    ("registrationDeadline", "Sista anmälan"),
    ("cancelled", "Inställt"),
    ("eventId", "Arrangemang-ID"),
    ("organisation", "Organisation"),
];

/// The Swedish header of `field`.
pub fn header(field: &str) -> &str {
    HEADERS
        .iter()
        .find(|(f, _)| *f == field)
        .map(|(_, sv)| *sv)
        .unwrap_or(field)
}

/// The field a header names: the field's own name, exactly, or its Swedish header, whatever
/// the case and accents.
pub fn field_of_header(header: &str) -> Option<&'static str> {
    if let Some((field, _)) = HEADERS.iter().find(|(f, _)| *f == header) {
        return Some(field);
    }
    let wanted = fold(header);
    HEADERS
        .iter()
        .find(|(_, sv)| fold(sv) == wanted)
        .map(|(field, _)| *field)
}

/// Lower case, without accents (å ä → a, ö → o, é → e, …) and without what joins or
/// separates words (spaces, `-`, `_`): `Fokus-utmaning`, `fokusutmaning` and `Fokus utmaning`
/// are one text.
pub fn fold(text: &str) -> String {
    text.chars()
        .flat_map(char::to_lowercase)
        .filter(|c| !c.is_whitespace() && !matches!(c, '-' | '_' | '\u{2010}'..='\u{2015}'))
        .map(|c| match c {
            'å' | 'ä' | 'à' | 'á' | 'â' => 'a',
            'ö' | 'ø' | 'ó' | 'ò' | 'ô' => 'o',
            'é' | 'è' | 'ê' | 'ë' => 'e',
            'ü' | 'ú' | 'ù' => 'u',
            'í' | 'ì' | 'ï' => 'i',
            c => c,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const V: Vocabulary = Vocabulary {
        name: "Status",
        values: &[
            ("ongoing", &["Pågår"]),
            ("subject_area", &["Sakområdesnätverk", "sakområde"]),
        ],
    };

    #[test]
    fn labels_resolve_whatever_the_case_and_accents() {
        for text in ["ongoing", "Pågår", "PÅGÅR", "pagar", " Pågår ", "på-går"] {
            assert_eq!(V.resolve(text), Some("ongoing"), "{text}");
        }
        for text in [
            "subject_area",
            "subject-area",
            "Subject area",
            "Sakomradesnatverk",
        ] {
            assert_eq!(V.resolve(text), Some("subject_area"), "{text}");
        }
        assert_eq!(V.resolve("pågått"), None);
        assert_eq!(V.resolve(""), None);
        assert_eq!(V.label("ongoing"), "Pågår");
        assert_eq!(V.label("unknown"), "unknown");
    }

    #[test]
    fn headers_are_unique_and_read_back() {
        for (i, (field, sv)) in HEADERS.iter().enumerate() {
            assert!(
                HEADERS[..i]
                    .iter()
                    .all(|(f, s)| f != field && fold(s) != fold(sv)),
                "{field} / {sv} repeated"
            );
            assert_eq!(field_of_header(sv), Some(*field));
            assert_eq!(field_of_header(&sv.to_uppercase()), Some(*field));
            assert_eq!(field_of_header(field), Some(*field));
        }
        assert_eq!(field_of_header("Ar"), Some("year"));
        assert_eq!(field_of_header("okänd"), None);
    }
}
