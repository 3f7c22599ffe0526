//! Controlled vocabularies of the catalog: themes (EU Data Theme, as DCAT-AP uses), update
//! frequencies (EU Frequency) and languages, each with its authority URI.

use serde::Serialize;

/// A catalog theme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Theme {
    /// The code used in the API, e.g. `TRAN`.
    pub code: &'static str,
    /// English label.
    pub label_en: &'static str,
    /// Chinese label.
    pub label_zh: &'static str,
}

impl Theme {
    /// The theme's URI in the EU Data Theme authority table.
    pub fn uri(&self) -> String {
        format!(
            "http://publications.europa.eu/resource/authority/data-theme/{}",
            self.code
        )
    }
}

/// Every theme, in display order.
pub const THEMES: &[Theme] = &[
    Theme {
        code: "AGRI",
        label_en: "Agriculture, fisheries, forestry and food",
        label_zh: "农业、渔业、林业和食品",
    },
    Theme {
        code: "ECON",
        label_en: "Economy and finance",
        label_zh: "经济和金融",
    },
    Theme {
        code: "EDUC",
        label_en: "Education, culture and sport",
        label_zh: "教育、文化和体育",
    },
    Theme {
        code: "ENER",
        label_en: "Energy",
        label_zh: "能源",
    },
    Theme {
        code: "ENVI",
        label_en: "Environment",
        label_zh: "环境",
    },
    Theme {
        code: "GOVE",
        label_en: "Government and public sector",
        label_zh: "政府和公共部门",
    },
    Theme {
        code: "HEAL",
        label_en: "Health",
        label_zh: "卫生健康",
    },
    Theme {
        code: "INTR",
        label_en: "International issues",
        label_zh: "国际事务",
    },
    Theme {
        code: "JUST",
        label_en: "Justice, legal system and public safety",
        label_zh: "司法和公共安全",
    },
    Theme {
        code: "REGI",
        label_en: "Regions and cities",
        label_zh: "区域和城市",
    },
    Theme {
        code: "SOCI",
        label_en: "Population and society",
        label_zh: "人口和社会",
    },
    Theme {
        code: "TECH",
        label_en: "Science and technology",
        label_zh: "科学和技术",
    },
    Theme {
        code: "TRAN",
        label_en: "Transport",
        label_zh: "交通运输",
    },
];

/// The theme with this code.
pub fn theme(code: &str) -> Option<&'static Theme> {
    THEMES.iter().find(|t| t.code == code)
}

/// An update frequency, with its EU Frequency authority code.
pub const FREQUENCIES: &[(&str, &str)] = &[
    ("continuous", "CONT"),
    ("hourly", "HOURLY"),
    ("daily", "DAILY"),
    ("weekly", "WEEKLY"),
    ("monthly", "MONTHLY"),
    ("quarterly", "QUARTERLY"),
    ("annual", "ANNUAL"),
    ("irregular", "IRREG"),
    ("unknown", "UNKNOWN"),
];

/// The EU Frequency URI of an update frequency.
pub fn frequency_uri(name: &str) -> Option<String> {
    FREQUENCIES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, code)| {
            format!("http://publications.europa.eu/resource/authority/frequency/{code}")
        })
}

/// Languages a dataset can be in: ISO 639-1 code and EU Language authority code.
pub const LANGUAGES: &[(&str, &str)] = &[
    ("zh", "ZHO"),
    ("en", "ENG"),
    ("fr", "FRA"),
    ("de", "DEU"),
    ("es", "SPA"),
    ("ru", "RUS"),
    ("ar", "ARA"),
    ("ja", "JPN"),
    ("ko", "KOR"),
    ("pt", "POR"),
];

/// The EU Language URI of an ISO 639-1 code.
pub fn language_uri(code: &str) -> Option<String> {
    LANGUAGES
        .iter()
        .find(|(c, _)| *c == code)
        .map(|(_, eu)| format!("http://publications.europa.eu/resource/authority/language/{eu}"))
}
