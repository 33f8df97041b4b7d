//! One cron field at a time, in the user's own terms.
//!
//! The `cron` crate parses a 6-field form the user never wrote (pgtide adds the seconds), and its
//! errors say so, over several lines, with its own bounds. So each field is checked here first,
//! and an error names the field as crontab does, what it holds, and what it accepts, on one line:
//! `the minute field must be 0-59, but it is "61"`.

/// What one field accepts.
pub(super) struct Field {
    /// Its name, as crontab's documentation says it.
    pub(super) name: &'static str,
    pub(super) min: u32,
    pub(super) max: u32,
    /// Names that stand for numbers (months), lower case, the first for `min`.
    pub(super) names: &'static [&'static str],
    /// Whether `?` (any) is allowed, as for the day of the month.
    pub(super) any: bool,
}

pub(super) const SECOND: Field = Field {
    name: "second",
    min: 0,
    max: 59,
    names: &[],
    any: false,
};
pub(super) const MINUTE: Field = Field {
    name: "minute",
    min: 0,
    max: 59,
    names: &[],
    any: false,
};
pub(super) const HOUR: Field = Field {
    name: "hour",
    min: 0,
    max: 23,
    names: &[],
    any: false,
};
pub(super) const DAY: Field = Field {
    name: "day-of-month",
    min: 1,
    max: 31,
    names: &[],
    any: true,
};
pub(super) const MONTH: Field = Field {
    name: "month",
    min: 1,
    max: 12,
    names: &[
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ],
    any: false,
};

/// What every field's syntax allows, for the end of an error.
const SYNTAX: &str = "a field is a number, *, a list 1,15, a range 1-5 or a step */15";

impl Field {
    /// Checks `text` (one whole field) against this field's bounds and crontab's syntax.
    pub(super) fn check(&self, text: &str) -> Result<(), String> {
        for item in text.split(',') {
            self.check_item(item).map_err(|why| {
                format!(
                    "the {} field {why}, but it is {text:?} ({SYNTAX})",
                    self.name
                )
            })?;
        }
        Ok(())
    }

    fn bounds(&self) -> String {
        match self.names.first() {
            Some(first) => format!(
                "{}-{} or a name {first}-{}",
                self.min,
                self.max,
                self.names.last().expect("non-empty")
            ),
            None => format!("{}-{}", self.min, self.max),
        }
    }

    fn check_item(&self, item: &str) -> Result<(), String> {
        let (range, step) = match item.split_once('/') {
            Some((range, step)) => (range, Some(step)),
            None => (item, None),
        };
        if let Some(step) = step {
            match step.parse::<u32>() {
                Ok(n) if n >= 1 => {}
                _ => return Err("must have a step of 1 or more after /".to_string()),
            }
        }
        if range == "*" || (self.any && range == "?") {
            return Ok(());
        }
        let (first, last) = match range.split_once('-') {
            Some((a, b)) => (self.value(a)?, Some(self.value(b)?)),
            None => (self.value(range)?, None),
        };
        if let Some(last) = last {
            if first > last {
                return Err(format!(
                    "must have ranges that run upwards ({range} runs down)"
                ));
            }
        }
        Ok(())
    }

    fn value(&self, token: &str) -> Result<u32, String> {
        let lower = token.to_ascii_lowercase();
        if let Some(i) = self.names.iter().position(|n| *n == lower) {
            return Ok(self.min + i as u32);
        }
        match token.parse::<u32>() {
            Ok(n) if (self.min..=self.max).contains(&n) => Ok(n),
            _ => Err(format!("must be {}", self.bounds())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_field_names_itself_its_value_and_its_bounds() {
        assert_eq!(
            MINUTE.check("61").unwrap_err(),
            "the minute field must be 0-59, but it is \"61\" (a field is a number, *, a list 1,15, \
             a range 1-5 or a step */15)"
        );
        assert!(HOUR
            .check("24")
            .unwrap_err()
            .starts_with("the hour field must be 0-23, but it is \"24\""));
        assert!(DAY
            .check("0")
            .unwrap_err()
            .starts_with("the day-of-month field must be 1-31"));
        assert!(MONTH
            .check("13")
            .unwrap_err()
            .starts_with("the month field must be 1-12 or a name jan-dec, but it is \"13\""));
        assert!(SECOND.check("1,60").unwrap_err().contains("\"1,60\""));
        assert!(MINUTE
            .check("*/0")
            .unwrap_err()
            .contains("a step of 1 or more"));
        assert!(HOUR.check("5-1").unwrap_err().contains("5-1 runs down"));
        assert!(MINUTE
            .check("x")
            .unwrap_err()
            .starts_with("the minute field must be 0-59"));
        for ok in ["0", "59", "*", "*/15", "1,15,30", "1-5", "10-20/2", "5/10"] {
            MINUTE.check(ok).unwrap();
        }
        MONTH.check("jan-mar,Dec").unwrap();
        DAY.check("?").unwrap();
        assert!(MINUTE.check("?").is_err());
    }
}
