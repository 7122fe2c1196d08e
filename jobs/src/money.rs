//! Amounts of money: minor units (what is stored) and their decimal form, by the
//! currency's exponent (ISO 4217; Telegram Stars have none).

/// How many decimals `currency` has: 0 for zero-decimal currencies and Stars (`XTR`),
/// 3 for the three-decimal ones, else 2.
pub fn exponent(currency: &str) -> u32 {
    const ZERO: &[&str] = &[
        "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND", "VUV", "XAF", "XOF",
        "XPF", "XTR",
    ];
    const THREE: &[&str] = &["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"];
    if ZERO.contains(&currency) {
        0
    } else if THREE.contains(&currency) {
        3
    } else {
        2
    }
}

/// `minor` units of `currency` as a decimal string: 999 USD → "9.99", 500 JPY → "500",
/// 1234 KWD → "1.234", -5 EUR → "-0.05".
pub fn decimal(minor: i64, currency: &str) -> String {
    let exp = exponent(currency);
    if exp == 0 {
        return minor.to_string();
    }
    let scale = 10u64.pow(exp);
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    format!("{sign}{}.{:0width$}", abs / scale, abs % scale, width = exp as usize)
}

/// A price as a person writes it (`15`, `15.00`, `15,5`, `250`) in minor units of
/// `currency`: at most the currency's decimals, no sign, no more than 15 digits before
/// the separator. `None` when it is not such a price.
pub fn parse_minor(text: &str, currency: &str) -> Option<i64> {
    let exp = exponent(currency);
    let text = text.trim();
    let (whole, fraction) = match text.split_once(['.', ',']) {
        Some((w, f)) => (w, f),
        None => (text, ""),
    };
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || whole.len() > 15 || !digits(whole) || !digits(fraction) {
        return None;
    }
    if fraction.len() > exp as usize || (text.len() > whole.len() && fraction.is_empty()) {
        return None;
    }
    let whole: i64 = whole.parse().ok()?;
    let scale = 10i64.pow(exp);
    let fraction: i64 =
        if fraction.is_empty() { 0 } else { fraction.parse::<i64>().ok()? * 10i64.pow(exp - fraction.len() as u32) };
    whole.checked_mul(scale)?.checked_add(fraction)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_are_read_as_people_write_them() {
        assert_eq!(parse_minor("15.00", "EUR"), Some(1500));
        assert_eq!(parse_minor("15", "EUR"), Some(1500));
        assert_eq!(parse_minor("15,5", "EUR"), Some(1550));
        assert_eq!(parse_minor("0.99", "USD"), Some(99));
        assert_eq!(parse_minor("250", "XTR"), Some(250));
        assert_eq!(parse_minor("1.234", "KWD"), Some(1234));
        for bad in ["", "-1", "1.234", "1.", ".5", "1e3", "abc", "1 000", "9999999999999999"] {
            assert_eq!(parse_minor(bad, "EUR"), None, "{bad}");
        }
        assert_eq!(parse_minor("2.5", "XTR"), None);
    }

    #[test]
    fn amounts_follow_the_currency_exponent() {
        assert_eq!(decimal(999, "EUR"), "9.99");
        assert_eq!(decimal(5, "USD"), "0.05");
        assert_eq!(decimal(-5, "USD"), "-0.05");
        assert_eq!(decimal(500, "JPY"), "500");
        assert_eq!(decimal(250, "XTR"), "250");
        assert_eq!(decimal(1234, "KWD"), "1.234");
        assert_eq!(decimal(i64::MIN, "USD"), "-92233720368547758.08");
    }
}
