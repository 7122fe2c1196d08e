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

#[cfg(test)]
mod tests {
    use super::*;

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
