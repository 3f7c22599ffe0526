//! The classification of public data (DESIGN §3): sharing class between government bodies,
//! opening class to society, and the data grade of GB/T 43697, with the rules tying them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::principal::UnknownName;

/// Whether other government bodies may obtain the data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SharingClass {
    /// Any agency obtains it on request, granted automatically.
    Unconditional,
    /// An agency obtains it after the owner reviews its request.
    Conditional,
    /// Not shared with other agencies.
    None,
}

/// Whether society (the public, enterprises) may obtain the data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpeningClass {
    /// Anyone, without a grant.
    Open,
    /// After a reviewed request, under a licence.
    Conditional,
    /// Not opened.
    Closed,
}

/// The data grade of GB/T 43697-2024.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DataGrade {
    /// 一般数据.
    General,
    /// 重要数据.
    Important,
    /// 核心数据.
    Core,
}

macro_rules! vocabulary {
    ($ty:ident, $what:literal, [$($variant:ident => $name:literal),+ $(,)?]) => {
        impl $ty {
            /// Every value.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The wire and storage name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $name),+
                }
            }
        }

        impl FromStr for $ty {
            type Err = UnknownName;
            fn from_str(s: &str) -> Result<Self, UnknownName> {
                match s {
                    $($name => Ok(Self::$variant),)+
                    other => Err(UnknownName { what: $what, value: other.to_owned() }),
                }
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

vocabulary!(SharingClass, "sharing class", [
    Unconditional => "unconditional", Conditional => "conditional", None => "none",
]);
vocabulary!(OpeningClass, "opening class", [
    Open => "open", Conditional => "conditional", Closed => "closed",
]);
vocabulary!(DataGrade, "data grade", [
    General => "general", Important => "important", Core => "core",
]);

/// A classification that breaks a rule, naming the rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClassificationViolation {
    /// `core` data may not be shared unconditionally.
    CoreSharedUnconditionally,
    /// `core` data must be closed to society.
    CoreNotClosed,
    /// `important` data may not be open to everyone.
    ImportantOpen,
    /// Open data must name its licence.
    OpenWithoutLicence,
}

impl ClassificationViolation {
    /// A stable name for the rule, used as the error code.
    pub fn rule(self) -> &'static str {
        match self {
            Self::CoreSharedUnconditionally => "core_sharing_must_be_conditional_or_none",
            Self::CoreNotClosed => "core_opening_must_be_closed",
            Self::ImportantOpen => "important_opening_must_not_be_open",
            Self::OpenWithoutLicence => "open_data_requires_licence",
        }
    }
}

impl fmt::Display for ClassificationViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::CoreSharedUnconditionally => {
                "core data may only be shared conditionally or not at all"
            }
            Self::CoreNotClosed => "core data must have the opening class `closed`",
            Self::ImportantOpen => "important data cannot have the opening class `open`",
            Self::OpenWithoutLicence => "data with the opening class `open` must name a licence",
        })
    }
}

/// A dataset's classification: sharing class, opening class and grade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Classification {
    /// Between government bodies.
    pub sharing: SharingClass,
    /// To society.
    pub opening: OpeningClass,
    /// The data grade.
    pub grade: DataGrade,
}

impl Classification {
    /// Checks the rules of DESIGN §3 ("stricter wins"); `has_licence` says whether a licence
    /// is named, which open data requires.
    pub fn check(self, has_licence: bool) -> Result<(), ClassificationViolation> {
        match self.grade {
            DataGrade::Core if self.sharing == SharingClass::Unconditional => {
                Err(ClassificationViolation::CoreSharedUnconditionally)
            }
            DataGrade::Core if self.opening != OpeningClass::Closed => {
                Err(ClassificationViolation::CoreNotClosed)
            }
            DataGrade::Important if self.opening == OpeningClass::Open => {
                Err(ClassificationViolation::ImportantOpen)
            }
            _ if self.opening == OpeningClass::Open && !has_licence => {
                Err(ClassificationViolation::OpenWithoutLicence)
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rules restated independently: what may a grade allow?
    fn allowed(c: Classification, has_licence: bool) -> bool {
        let sharing_ok = match c.grade {
            DataGrade::Core => matches!(c.sharing, SharingClass::Conditional | SharingClass::None),
            _ => true,
        };
        let opening_ok = match c.grade {
            DataGrade::Core => c.opening == OpeningClass::Closed,
            DataGrade::Important => c.opening != OpeningClass::Open,
            DataGrade::General => true,
        };
        let licence_ok = c.opening != OpeningClass::Open || has_licence;
        sharing_ok && opening_ok && licence_ok
    }

    #[test]
    fn every_combination_is_accepted_exactly_when_the_rules_allow_it() {
        let mut accepted = 0;
        for &sharing in SharingClass::ALL {
            for &opening in OpeningClass::ALL {
                for &grade in DataGrade::ALL {
                    for has_licence in [false, true] {
                        let c = Classification {
                            sharing,
                            opening,
                            grade,
                        };
                        let verdict = c.check(has_licence);
                        assert_eq!(
                            verdict.is_ok(),
                            allowed(c, has_licence),
                            "{c:?} licence={has_licence}"
                        );
                        accepted += usize::from(verdict.is_ok());
                    }
                }
            }
        }
        // general: 3 sharing x (open with licence, conditional x2, closed x2) = 15;
        // important: 3 x (conditional, closed) x 2 licence states = 12; core: 2 x closed x 2 = 4.
        assert_eq!(accepted, 15 + 12 + 4);
    }

    #[test]
    fn names_round_trip() {
        for &v in SharingClass::ALL {
            assert_eq!(v.as_str().parse::<SharingClass>().ok(), Some(v));
        }
        for &v in OpeningClass::ALL {
            assert_eq!(v.as_str().parse::<OpeningClass>().ok(), Some(v));
        }
        for &v in DataGrade::ALL {
            assert_eq!(v.as_str().parse::<DataGrade>().ok(), Some(v));
        }
        assert!("secret".parse::<DataGrade>().is_err());
    }
}
