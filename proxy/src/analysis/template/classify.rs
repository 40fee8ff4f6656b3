//! Per-segment classification: which raw path segments are identifiers, and of what shape.

/// The shape of an identifier segment, written as a placeholder in route templates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Shape {
    /// `{int}`: decimal digits only (`42`).
    Int,
    /// `{uuid}`: `8-4-4-4-12` hex digits (`3f2b…-…`).
    Uuid,
    /// `{hex}`: 6+ hex digits of one case with at least one digit (`deadbeef1`).
    Hex,
    /// `{token}`: 20+ base64url-ish characters that look random (JWTs, API keys).
    Token,
    /// `{date}`: `2024-01-31` (optionally followed by `T…` time), or `20240131`.
    Date,
    /// `{email}`: `local@domain.tld`, also when the `@` is written `%40`.
    Email,
    /// `{id}`: letters and digits mixed (`ORD12345`, `a1b2c3`, `user_123`).
    Id,
    /// `{param}`: a position that saw more distinct plain words than the merge threshold.
    Param,
    /// `{rest}`: everything past the deepest segment a learned template keeps.
    Rest,
}

impl Shape {
    /// The placeholder written in templates, such as `{int}`.
    pub const fn placeholder(self) -> &'static str {
        match self {
            Shape::Int => "{int}",
            Shape::Uuid => "{uuid}",
            Shape::Hex => "{hex}",
            Shape::Token => "{token}",
            Shape::Date => "{date}",
            Shape::Email => "{email}",
            Shape::Id => "{id}",
            Shape::Param => "{param}",
            Shape::Rest => "{rest}",
        }
    }
}

/// Classifies one raw path segment: `None` for a plain word that stays in the template.
///
/// Rules, first match wins: digits only → `{date}` when it reads as `YYYYMMDD` (years
/// 1970–2099), else `{int}`; `{uuid}`; `YYYY-MM-DD[T…]` → `{date}`; `{hex}`; `{email}`;
/// `{token}`; `{id}`. The heuristics lean towards leaving words alone: cardinality merging
/// catches what they miss, and declared templates override them.
pub fn classify_segment(raw: &str) -> Option<Shape> {
    if raw.contains('%') {
        shape_of(&percent_decode(raw))
    } else {
        shape_of(raw)
    }
}

fn shape_of(s: &str) -> Option<Shape> {
    let b = s.as_bytes();
    // Fast path for most words: every shape but `{token}` and `{email}` needs a digit.
    let has_digit = b.iter().any(u8::is_ascii_digit);
    if b.is_empty() || (!has_digit && b.len() < 20 && !b.contains(&b'@')) {
        return None;
    }
    if b.iter().all(u8::is_ascii_digit) {
        return Some(if is_compact_date(b) {
            Shape::Date
        } else {
            Shape::Int
        });
    }
    if is_uuid(b) {
        Some(Shape::Uuid)
    } else if is_dashed_date(b) {
        Some(Shape::Date)
    } else if is_hex(b) {
        Some(Shape::Hex)
    } else if is_email(s) {
        Some(Shape::Email)
    } else if is_token(b) {
        Some(Shape::Token)
    } else if is_mixed_id(b) {
        Some(Shape::Id)
    } else {
        None
    }
}

fn digits(b: &[u8]) -> Option<u32> {
    b.iter().try_fold(0u32, |n, &c| {
        c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
    })
}

fn valid_ymd(year: &[u8], month: &[u8], day: &[u8]) -> bool {
    matches!(
        (digits(year), digits(month), digits(day)),
        (Some(1970..=2099), Some(1..=12), Some(1..=31))
    )
}

fn is_compact_date(b: &[u8]) -> bool {
    b.len() == 8 && valid_ymd(&b[..4], &b[4..6], &b[6..])
}

fn is_dashed_date(b: &[u8]) -> bool {
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' || !valid_ymd(&b[..4], &b[5..7], &b[8..10]) {
        return false;
    }
    match &b[10..] {
        [] => true,
        [b'T', time @ ..] => time
            .iter()
            .all(|c| c.is_ascii_digit() || matches!(c, b':' | b'.' | b'+' | b'-' | b'Z')),
        _ => false,
    }
}

fn is_uuid(b: &[u8]) -> bool {
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// Hex of one letter case with a digit, 6+ long; strict letter/digit alternation (`a1b2c3`)
/// reads as an `{id}` instead.
fn is_hex(b: &[u8]) -> bool {
    let lower = b.iter().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'));
    let upper = b.iter().all(|c| matches!(c, b'0'..=b'9' | b'A'..=b'F'));
    b.len() >= 6
        && (lower || upper)
        && b.iter().any(u8::is_ascii_digit)
        && b.windows(2)
            .any(|w| w[0].is_ascii_digit() == w[1].is_ascii_digit())
}

fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && local
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"._+-".contains(&c));
    let labels_ok = domain.split('.').all(|label| {
        !label.is_empty()
            && label
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-')
    });
    let tld_ok = domain
        .rsplit_once('.')
        .is_some_and(|(_, tld)| tld.len() >= 2 && tld.bytes().all(|c| c.is_ascii_alphabetic()));
    local_ok && labels_ok && tld_ok
}

/// 20+ base64url-ish characters with a dot-free stretch of 16+ (JWT parts are long, file names
/// like `jquery-3.6.0.min.js.map` are not), and a digit or upper and lower case each making up
/// a quarter of the letters (so `internationalization` and `getUserPreferencesById` stay words).
fn is_token(b: &[u8]) -> bool {
    if b.len() < 20
        || b.split(|c| *c == b'.').map(<[u8]>::len).max() < Some(16)
        || !b
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || b"-_.=~+".contains(c))
    {
        return false;
    }
    let upper = b.iter().filter(|c| c.is_ascii_uppercase()).count();
    let lower = b.iter().filter(|c| c.is_ascii_lowercase()).count();
    let letters = upper + lower;
    b.iter().any(u8::is_ascii_digit) || (upper * 4 >= letters && lower * 4 >= letters)
}

/// Words that mix letters and digits but name things rather than instances.
const TECHNICAL_WORDS: &[&str] = &[
    "a11y", "ed25519", "h264", "h265", "i18n", "l10n", "p256", "p384", "p521", "sha224", "sha256",
    "sha384", "sha512", "x25519", "x509",
];

/// Letters and digits mixed, 4+ long, with 3+ digits or 3+ letter/digit runs (`ORD12345`,
/// `a1b2c3`); API versions (`v2`, `v1beta1`) and a few technical words stay.
fn is_mixed_id(b: &[u8]) -> bool {
    if b.len() < 4
        || !b
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_'))
    {
        return false;
    }
    let digit_count = b.iter().filter(|c| c.is_ascii_digit()).count();
    let has_letter = b.iter().any(u8::is_ascii_alphabetic);
    if digit_count == 0 || !has_letter || is_version(b) {
        return false;
    }
    if TECHNICAL_WORDS
        .iter()
        .any(|w| w.as_bytes().eq_ignore_ascii_case(b))
    {
        return false;
    }
    let mut runs = 0;
    let mut last = None;
    for c in b.iter().filter(|c| c.is_ascii_alphanumeric()) {
        let digit = c.is_ascii_digit();
        if last != Some(digit) {
            runs += 1;
            last = Some(digit);
        }
    }
    digit_count >= 3 || runs >= 3
}

/// `v1`, `V2`, `v1beta1`, `v2alpha`, `v3rc2`.
fn is_version(b: &[u8]) -> bool {
    let Some((first, rest)) = b.split_first() else {
        return false;
    };
    if !matches!(first, b'v' | b'V') {
        return false;
    }
    let major = rest.iter().take_while(|c| c.is_ascii_digit()).count();
    if major == 0 {
        return false;
    }
    let rest = &rest[major..];
    rest.is_empty()
        || ["alpha", "beta", "rc"].iter().any(|stage| {
            rest.strip_prefix(stage.as_bytes())
                .is_some_and(|tail| tail.iter().all(u8::is_ascii_digit))
        })
}

/// Decodes `%XX` escapes for classification only; bad escapes stay as written.
fn percent_decode(raw: &str) -> String {
    let b = raw.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match (
            b[i],
            b.get(i + 1).copied().and_then(hex),
            b.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(hi), Some(lo)) => {
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
