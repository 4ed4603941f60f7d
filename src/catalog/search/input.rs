//! What a search asks for, parsed from the query string before anything is
//! read: the words of `q` (plain words, the last also as a prefix, quoted
//! phrases and `-word` exclusions) and the filters (categories, a price
//! range). Every limit that bounds a search's work is checked here, so a
//! request that breaks one costs no connection.
//!
//! A word is a run of letters and digits: everything else separates words,
//! so the tsquery text built from them (see [`Terms::tsquery`]) holds no
//! syntax a client wrote.

use std::fmt::Write as _;

/// The longest `q`, in characters.
pub const MAX_Q_CHARS: usize = 200;
/// The most words `q` may hold, phrases' and exclusions' included: each is
/// one more index lookup.
pub const MAX_WORDS: usize = 16;
/// The most `category` parameters a request may give.
pub const MAX_CATEGORIES: usize = 20;
/// The longest `category` value, in characters.
pub const MAX_CATEGORY_CHARS: usize = 200;

/// Why the query string cannot be searched: a sentence for the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InputError(pub String);

/// One part of `q`, its words lower-cased.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Term {
    /// A word every product found must have (stemmed).
    Word(String),
    /// The last word of `q`: also matches the words it begins.
    Prefix(String),
    /// Quoted words, next to each other and in this order.
    Phrase(Vec<String>),
    /// `-word` or `-"some words"`: no product found has it.
    Exclude(Vec<String>),
}

impl Term {
    /// Its words.
    pub fn words(&self) -> &[String] {
        match self {
            Term::Word(word) | Term::Prefix(word) => std::slice::from_ref(word),
            Term::Phrase(words) | Term::Exclude(words) => words,
        }
    }

    fn is_positive(&self) -> bool {
        !matches!(self, Term::Exclude(_))
    }
}

/// The parsed `q`: at least one term that is not an exclusion.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Terms(Vec<Term>);

impl Terms {
    /// Parses `q`, or says what is wrong with it.
    pub fn parse(q: &str) -> Result<Terms, InputError> {
        let chars = q.chars().count();
        if chars == 0 {
            return Err(InputError("q must not be empty".into()));
        }
        if chars > MAX_Q_CHARS {
            return Err(InputError(format!(
                "q must be at most {MAX_Q_CHARS} characters, got {chars}"
            )));
        }
        let terms = Tokenizer::default().run(q);
        let words: usize = terms.iter().map(|t| t.words().len()).sum();
        if words > MAX_WORDS {
            return Err(InputError(format!(
                "q may hold at most {MAX_WORDS} words, got {words}"
            )));
        }
        if words == 0 {
            return Err(InputError(format!(
                "q must hold a word to search for (letters or digits), got {q:?}"
            )));
        }
        if !terms.iter().any(Term::is_positive) {
            return Err(InputError(format!(
                "q must hold a word to search for, not only words to exclude, got {q:?}"
            )));
        }
        Ok(Terms(terms))
    }

    /// The terms, in the order `q` gave them.
    pub fn terms(&self) -> &[Term] {
        &self.0
    }

    /// The same terms with words replaced as `replace` says (by position
    /// among all the words, `None` keeps the word).
    pub fn replaced(&self, replace: &[Option<String>]) -> Terms {
        let mut next = replace.iter();
        let mut swap = |word: &String| match next.next() {
            Some(Some(other)) => other.clone(),
            _ => word.clone(),
        };
        Terms(
            self.0
                .iter()
                .map(|term| match term {
                    Term::Word(w) => Term::Word(swap(w)),
                    Term::Prefix(w) => Term::Prefix(swap(w)),
                    Term::Phrase(ws) => Term::Phrase(ws.iter().map(&mut swap).collect()),
                    Term::Exclude(ws) => Term::Exclude(ws.iter().map(&mut swap).collect()),
                })
                .collect(),
        )
    }

    /// `q` written back in its one normal form: lower case, one space
    /// between terms, punctuation gone. Two `q` with the same terms have the
    /// same normal form, and parsing it gives the same terms.
    pub fn normal_form(&self) -> String {
        let mut out = String::new();
        for term in &self.0 {
            if !out.is_empty() {
                out.push(' ');
            }
            match term {
                Term::Word(w) | Term::Prefix(w) => out.push_str(w),
                Term::Phrase(ws) => {
                    let _ = write!(out, "\"{}\"", ws.join(" "));
                }
                Term::Exclude(ws) if ws.len() == 1 => {
                    let _ = write!(out, "-{}", ws[0]);
                }
                Term::Exclude(ws) => {
                    let _ = write!(out, "-\"{}\"", ws.join(" "));
                }
            }
        }
        out
    }

    /// The tsquery text every product found must match: the positive terms
    /// joined by `&` (a phrase with `<->`, the prefix with `:*`). Words are
    /// letters and digits only, so nothing in it is syntax a client wrote.
    pub fn tsquery(&self) -> String {
        self.joined(true, " & ")
    }

    /// The tsquery text no product found may match: the excluded terms
    /// joined by `|`; `None` without exclusions.
    pub fn excluded_tsquery(&self) -> Option<String> {
        let text = self.joined(false, " | ");
        (!text.is_empty()).then_some(text)
    }

    fn joined(&self, positive: bool, operator: &str) -> String {
        let parts: Vec<String> = self
            .0
            .iter()
            .filter(|term| term.is_positive() == positive)
            .map(|term| match term {
                Term::Word(w) => w.clone(),
                Term::Prefix(w) => format!("{w}:*"),
                Term::Phrase(ws) | Term::Exclude(ws) => format!("({})", ws.join(" <-> ")),
            })
            .collect();
        parts.join(operator)
    }

    /// Every word of the positive terms, each with whether it is the
    /// prefix, by position among all the words (as [`Terms::replaced`]
    /// counts them); excluded words are `None`: they are never corrected.
    pub fn words_to_check(&self) -> Vec<Option<(&str, bool)>> {
        self.0
            .iter()
            .flat_map(|term| {
                let prefix = matches!(term, Term::Prefix(_));
                let positive = term.is_positive();
                term.words()
                    .iter()
                    .map(move |w| positive.then_some((w.as_str(), prefix)))
            })
            .collect()
    }
}

/// Splits `q` into terms, one character at a time.
#[derive(Default)]
struct Tokenizer {
    terms: Vec<Term>,
    word: String,
    /// Inside quotes: the phrase's words so far, and whether it is excluded.
    phrase: Option<(Vec<String>, bool)>,
    /// A `-` that began a term: the next word or phrase is excluded.
    minus: bool,
    /// Whether the last character ended a term (start, space, punctuation),
    /// so that a `-` here begins one rather than joins two words.
    at_start: bool,
}

impl Tokenizer {
    fn run(mut self, q: &str) -> Vec<Term> {
        self.at_start = true;
        for c in q.chars() {
            if c.is_alphanumeric() {
                // Lower case can add marks (İ is i and a dot above), which
                // are not part of a word.
                self.word
                    .extend(c.to_lowercase().filter(|l| l.is_alphanumeric()));
                self.at_start = false;
                continue;
            }
            self.end_word();
            match c {
                '"' => self.quote(),
                '-' if self.at_start && self.phrase.is_none() => {
                    self.minus = true;
                    self.at_start = false;
                    continue;
                }
                _ => {}
            }
            self.minus = false;
            self.at_start = true;
        }
        self.end_word();
        if self.phrase.is_some() {
            // An unclosed quote runs to the end of `q`.
            self.quote();
        }
        if let Some(Term::Word(last)) = self.terms.last() {
            let last = last.clone();
            self.terms.pop();
            self.terms.push(Term::Prefix(last));
        }
        self.terms
    }

    fn end_word(&mut self) {
        if self.word.is_empty() {
            return;
        }
        let word = std::mem::take(&mut self.word);
        match &mut self.phrase {
            Some((words, _)) => words.push(word),
            None if self.minus => self.terms.push(Term::Exclude(vec![word])),
            None => self.terms.push(Term::Word(word)),
        }
        self.minus = false;
    }

    /// A quote opens a phrase, or closes the open one.
    fn quote(&mut self) {
        match self.phrase.take() {
            None => self.phrase = Some((Vec::new(), self.minus)),
            Some((words, excluded)) => {
                // One quoted word is a phrase too: that word, never a prefix.
                let term = match (words.len(), excluded) {
                    (0, _) => return,
                    (_, true) => Term::Exclude(words),
                    (_, false) => Term::Phrase(words),
                };
                self.terms.push(term);
            }
        }
    }
}

/// The filters of a search, each optional: products of any of the
/// `categories` (exact), with `default_price` from `min_price` to
/// `max_price` (whole units, both included).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Filters {
    /// Sorted, without repeats.
    pub categories: Vec<String>,
    pub min_price: Option<i32>,
    pub max_price: Option<i32>,
}

impl Filters {
    /// Parses the `category`, `min_price` and `max_price` values given.
    pub fn parse(
        categories: &[&str],
        min_price: Option<&str>,
        max_price: Option<&str>,
    ) -> Result<Filters, InputError> {
        if categories.len() > MAX_CATEGORIES {
            return Err(InputError(format!(
                "category may be given at most {MAX_CATEGORIES} times, got it {} times",
                categories.len()
            )));
        }
        for category in categories {
            let chars = category.chars().count();
            if chars == 0 {
                return Err(InputError("category must not be empty".into()));
            }
            if chars > MAX_CATEGORY_CHARS {
                return Err(InputError(format!(
                    "category must be at most {MAX_CATEGORY_CHARS} characters, got {chars}"
                )));
            }
            // PostgreSQL's text holds no NUL: such a category names none,
            // and binding it would be an error of the database's.
            if category.contains('\0') {
                return Err(InputError(
                    "category must not contain a NUL character".into(),
                ));
            }
        }
        let min = min_price.map(|p| parse_cents("min_price", p)).transpose()?;
        let max = max_price.map(|p| parse_cents("max_price", p)).transpose()?;
        if let (Some(lo), Some(hi)) = (min, max) {
            if lo > hi {
                return Err(InputError(format!(
                    "min_price must not be over max_price, got {} and {}",
                    min_price.unwrap_or_default(),
                    max_price.unwrap_or_default()
                )));
            }
        }
        let mut categories: Vec<String> = categories.iter().map(|c| c.to_string()).collect();
        categories.sort_unstable();
        categories.dedup();
        Ok(Filters {
            categories,
            // Prices are whole units: a bound between two is rounded inwards.
            min_price: min.map(|cents| i32::try_from(cents.div_ceil(100)).unwrap_or(i32::MAX)),
            max_price: max.map(|cents| i32::try_from(cents / 100).unwrap_or(i32::MAX)),
        })
    }

    /// Whether no filter is given.
    pub fn is_empty(&self) -> bool {
        self.categories.is_empty() && self.min_price.is_none() && self.max_price.is_none()
    }
}

/// The most digits a price may have before its point: any such price fits
/// `default_price` (a 32-bit integer) in whole units.
const MAX_PRICE_DIGITS: usize = 9;

/// A price as the contract writes them (`140.00`), or as a client may
/// (`140`, `140.5`), in hundredths.
fn parse_cents(name: &str, text: &str) -> Result<u64, InputError> {
    let invalid = || {
        InputError(format!(
            "{name} must be a price such as 140 or 140.00 (at most {MAX_PRICE_DIGITS} digits \
             before the point and 2 after), got {text:?}"
        ))
    };
    let (units, hundredths) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if units.is_empty()
        || units.len() > MAX_PRICE_DIGITS
        || !digits(units)
        || hundredths.len() > 2
        || !digits(hundredths)
        || (text.contains('.') && hundredths.is_empty())
    {
        return Err(invalid());
    }
    let units: u64 = units.parse().map_err(|_| invalid())?;
    let fraction: u64 = format!("{hundredths:0<2}").parse().map_err(|_| invalid())?;
    Ok(units * 100 + fraction)
}

/// A whole search request: the terms (`None` without `q`) and the filters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct SearchInput {
    pub terms: Option<Terms>,
    pub filters: Filters,
}

impl SearchInput {
    /// Parses the parameters given (each at most once, but `category`).
    pub fn parse(
        q: Option<&str>,
        categories: &[&str],
        min_price: Option<&str>,
        max_price: Option<&str>,
    ) -> Result<SearchInput, InputError> {
        Ok(SearchInput {
            terms: q.map(Terms::parse).transpose()?,
            filters: Filters::parse(categories, min_price, max_price)?,
        })
    }

    /// What the answer depends on, as bytes that differ whenever the input
    /// does (each part length-prefixed): the cache key's part.
    pub fn key_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut part = |bytes: &[u8]| {
            out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
            out.extend_from_slice(bytes);
        };
        match &self.terms {
            Some(terms) => part(format!("q={}", terms.normal_form()).as_bytes()),
            None => part(b"no q"),
        }
        for category in &self.filters.categories {
            part(category.as_bytes());
        }
        part(format!("{:?}-{:?}", self.filters.min_price, self.filters.max_price).as_bytes());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms(q: &str) -> Vec<Term> {
        Terms::parse(q).map(|t| t.0).unwrap_or_default()
    }

    fn word(w: &str) -> Term {
        Term::Word(w.into())
    }

    #[test]
    fn words_phrases_exclusions_and_the_last_prefix() {
        assert_eq!(
            terms("Camo  JACKET"),
            [word("camo"), Term::Prefix("jacket".into())]
        );
        assert_eq!(
            terms("\"Blend in\" -red -\"dark blue\" t-shirt"),
            [
                Term::Phrase(vec!["blend".into(), "in".into()]),
                Term::Exclude(vec!["red".into()]),
                Term::Exclude(vec!["dark".into(), "blue".into()]),
                word("t"),
                Term::Prefix("shirt".into()),
            ]
        );
        // A quoted last word is that word; an unclosed quote runs to the end.
        assert_eq!(terms("\"jack\""), [Term::Phrase(vec!["jack".into()])]);
        assert_eq!(
            terms("camo \"blend in"),
            [
                word("camo"),
                Term::Phrase(vec!["blend".into(), "in".into()])
            ]
        );
        assert_eq!(terms("Café!"), [Term::Prefix("café".into())]);
    }

    #[test]
    fn the_normal_form_parses_to_the_same_terms() {
        for q in [
            "  Camo,, JACKET ",
            "\"Blend in\" -red -\"dark blue\" t-shirt",
            "a-b -c \"d\"",
        ] {
            let parsed = Terms::parse(q).unwrap_or_else(|e| panic!("{q}: {e}"));
            let again = Terms::parse(&parsed.normal_form()).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(parsed, again, "{q}");
        }
        assert_eq!(
            Terms::parse("  Camo,, JACKET ").map(|t| t.normal_form()),
            Ok("camo jacket".into())
        );
    }

    #[test]
    fn tsquery_texts() {
        let parsed = Terms::parse("camo \"blend in\" -red -\"dark blue\" jack");
        let parsed = parsed.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(parsed.tsquery(), "camo & (blend <-> in) & jack:*");
        assert_eq!(
            parsed.excluded_tsquery().as_deref(),
            Some("(red) | (dark <-> blue)")
        );
    }

    #[test]
    fn refusals() {
        let refused = |q: &str| Terms::parse(q).err().map(|e| e.0);
        assert_eq!(refused(""), Some("q must not be empty".into()));
        assert!(refused(&"a".repeat(201)).is_some_and(|e| e.contains("at most 200")));
        assert!(refused(&"a ".repeat(17)).is_some_and(|e| e.contains("at most 16 words")));
        assert!(refused("  ").is_some_and(|e| e.contains("a word to search for")));
        assert!(refused("-red").is_some_and(|e| e.contains("not only words to exclude")));
    }

    #[test]
    fn prices() {
        let filters = |min: &str, max: &str| Filters::parse(&[], Some(min), Some(max));
        assert_eq!(
            filters("139.50", "140.99").map(|f| (f.min_price, f.max_price)),
            Ok((Some(140), Some(140)))
        );
        assert_eq!(
            filters("0", "999999999.99").map(|f| (f.min_price, f.max_price)),
            Ok((Some(0), Some(999_999_999)))
        );
        for bad in [
            "",
            "abc",
            "-1",
            "1.",
            ".5",
            "1.234",
            "1e3",
            "1234567890",
            " 1",
        ] {
            assert!(filters(bad, "10").is_err(), "{bad:?}");
        }
        assert!(filters("10", "9.99").is_err());
    }
}
