//! Go-compatible duration strings (`time.ParseDuration`) and RFC 3339 timestamps.

/// Parse a Go duration (`"10s"`, `"1h30m"`, `"1.5h"`, `"-2m"`, `"0"`) into nanoseconds.
pub fn parse_go_duration(text: &str) -> Result<i128, String> {
    let bad = || format!("invalid duration {text:?}");
    let mut s = text;
    let mut negative = false;
    if let Some(rest) = s.strip_prefix('-') {
        negative = true;
        s = rest;
    } else if let Some(rest) = s.strip_prefix('+') {
        s = rest;
    }
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(bad());
    }
    let mut total: f64 = 0.0;
    while !s.is_empty() {
        let int_len = s.bytes().take_while(u8::is_ascii_digit).count();
        let (int_part, rest) = s.split_at(int_len);
        let (frac_part, rest) = match rest.strip_prefix('.') {
            Some(r) => {
                let n = r.bytes().take_while(u8::is_ascii_digit).count();
                r.split_at(n)
            }
            None => ("", rest),
        };
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(bad());
        }
        let unit_len = rest
            .char_indices()
            .find(|(_, c)| c.is_ascii_digit() || *c == '.')
            .map_or(rest.len(), |(i, _)| i);
        let (unit, rest) = rest.split_at(unit_len);
        let scale: f64 = match unit {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            "" => return Err(format!("missing unit in duration {text:?}")),
            _ => return Err(format!("unknown unit {unit:?} in duration {text:?}")),
        };
        let number: f64 = format!(
            "{}.{}",
            if int_part.is_empty() { "0" } else { int_part },
            if frac_part.is_empty() { "0" } else { frac_part }
        )
        .parse()
        .map_err(|_| bad())?;
        total += number * scale;
        s = rest;
    }
    if total > 9.223_372_036_854_776e18 {
        return Err(format!("duration {text:?} is out of range"));
    }
    let ns = total.round() as i128;
    Ok(if negative { -ns } else { ns })
}

/// Parse an RFC 3339 timestamp (also the YAML forms `2006-01-02 15:04:05` and the
/// bare date `2006-01-02`, both UTC) into Unix seconds and nanoseconds.
pub fn parse_timestamp(text: &str) -> Result<(i64, u32), String> {
    let bad =
        || format!("invalid timestamp {text:?}; expected RFC 3339 such as 2026-01-31T18:00:00Z");
    let t = text.trim();
    let num = |s: &str| -> Result<i64, String> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        s.parse::<i64>().map_err(|_| bad())
    };
    let (date, time) = match t.find(['T', 't', ' ']) {
        Some(i) => (&t[..i], Some(t[i + 1..].trim_start())),
        None => (t, None),
    };
    let mut dparts = date.splitn(3, '-');
    let year = num(dparts.next().unwrap_or(""))?;
    let month = num(dparts.next().ok_or_else(bad)?)?;
    let day = num(dparts.next().ok_or_else(bad)?)?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return Err(bad());
    }
    let mut secs = days_from_civil(year, month, day) * 86_400;
    let mut nanos = 0u32;
    if let Some(time) = time {
        let zone_at = time
            .char_indices()
            .skip(1)
            .find(|(_, c)| matches!(c, 'Z' | 'z' | '+' | '-'))
            .map(|(i, _)| i);
        let (clock, zone) = match zone_at {
            Some(i) => (time[..i].trim_end(), &time[i..]),
            None => (time, ""),
        };
        let (hms, frac) = match clock.split_once('.') {
            Some((a, b)) => (a, b),
            None => (clock, ""),
        };
        let mut hp = hms.splitn(3, ':');
        let h = num(hp.next().unwrap_or(""))?;
        let m = num(hp.next().ok_or_else(bad)?)?;
        let s = num(hp.next().ok_or_else(bad)?)?;
        if h > 23 || m > 59 || s > 60 {
            return Err(bad());
        }
        if !frac.is_empty() {
            num(frac)?;
            let digits: String = frac.chars().chain(std::iter::repeat('0')).take(9).collect();
            nanos = digits.parse().map_err(|_| bad())?;
        }
        secs += h * 3600 + m * 60 + s;
        match zone {
            "" | "Z" | "z" => {}
            z => {
                let sign = if z.starts_with('-') { 1 } else { -1 };
                let (zh, zm) = z[1..].split_once(':').ok_or_else(bad)?;
                let offset = num(zh)? * 3600 + num(zm)? * 60;
                secs += sign * offset;
            }
        }
    }
    Ok((secs, nanos))
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations_parse_like_go() {
        assert_eq!(parse_go_duration("10s"), Ok(10_000_000_000));
        assert_eq!(parse_go_duration("1h30m"), Ok(5_400_000_000_000));
        assert_eq!(parse_go_duration("1.5h"), Ok(5_400_000_000_000));
        assert_eq!(parse_go_duration("250ms"), Ok(250_000_000));
        assert_eq!(parse_go_duration("0"), Ok(0));
        assert_eq!(parse_go_duration("-2m"), Ok(-120_000_000_000));
        for bad in ["", "10", "1 h", "1d", "h", "1h-", ".s"] {
            assert!(parse_go_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rfc3339_timestamps_convert_to_utc() {
        assert_eq!(parse_timestamp("1970-01-01T00:00:00Z"), Ok((0, 0)));
        assert_eq!(
            parse_timestamp("2026-01-31T18:00:00Z"),
            Ok((1_769_882_400, 0))
        );
        assert_eq!(
            parse_timestamp("2026-01-31T19:00:00.5+01:00"),
            Ok((1_769_882_400, 500_000_000))
        );
        assert_eq!(parse_timestamp("2026-01-31"), Ok((1_769_817_600, 0)));
        assert!(parse_timestamp("tomorrow").is_err());
        assert!(parse_timestamp("2026-13-01T00:00:00Z").is_err());
    }
}
