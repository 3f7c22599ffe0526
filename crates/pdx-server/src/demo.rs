//! The demo: a smart city's agencies, enterprises, platform admin, auditor and some forty
//! datasets with generated CSV, JSON and GeoJSON files, and (in [`story`]) its last three
//! months of licensing and circulation, loaded deterministically through the services.

mod story;

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use chrono::{Duration, NaiveDate};
use pdx_access::AccessService;
use pdx_access::service::OrganizationInput;
use pdx_catalog::CatalogService;
use pdx_catalog::model::{DatasetInput, LifecycleAction, Translation};
use pdx_catalog::service::DistributionInput;
use pdx_core::{
    Classification, Clock, DataGrade, DistributionId, ManualClock, OpeningClass, OrgKind,
    Principal, Role, RoleSet, SharingClass, SystemClock,
};
use pdx_licensing::LicensingService;
use pdx_storage::Database;

use crate::error::ServerError;

/// The password of every demo account. The demo is for evaluation, never for production.
pub const DEMO_PASSWORD: &str = "pdx-demo-2026";

/// A demo account, as printed for the newcomer.
#[derive(Debug, Clone)]
pub struct DemoAccount {
    /// Sign-in address.
    pub email: String,
    /// What the account is.
    pub role: String,
}

/// A small deterministic generator (SplitMix64), so every demo load is identical.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Shenzhen's districts: Chinese name, English name, centre longitude and latitude.
const DISTRICTS: &[(&str, &str, f64, f64)] = &[
    ("福田区", "Futian", 114.055, 22.541),
    ("罗湖区", "Luohu", 114.131, 22.548),
    ("南山区", "Nanshan", 113.930, 22.533),
    ("宝安区", "Bao'an", 113.883, 22.555),
    ("龙岗区", "Longgang", 114.247, 22.720),
    ("龙华区", "Longhua", 114.045, 22.696),
    ("盐田区", "Yantian", 114.237, 22.557),
    ("坪山区", "Pingshan", 114.350, 22.708),
];

/// Agencies and enterprises: slug, Chinese name, English name, kind, credit code.
const ORGANIZATIONS: &[(&str, &str, &str, OrgKind, &str)] = &[
    (
        "sz-transport",
        "深圳市交通运输局",
        "Shenzhen Municipal Transport Bureau",
        OrgKind::Agency,
        "11440300MB2C00001A",
    ),
    (
        "sz-environment",
        "深圳市生态环境局",
        "Shenzhen Ecology and Environment Bureau",
        OrgKind::Agency,
        "11440300MB2C00002D",
    ),
    (
        "sz-health",
        "深圳市卫生健康委员会",
        "Shenzhen Health Commission",
        OrgKind::Agency,
        "11440300MB2C00003G",
    ),
    (
        "sz-miit",
        "深圳市工业和信息化局",
        "Shenzhen Industry and Information Technology Bureau",
        OrgKind::Agency,
        "11440300MB2C00004K",
    ),
    (
        "sz-statistics",
        "深圳市统计局",
        "Shenzhen Statistics Bureau",
        OrgKind::Agency,
        "11440300MB2C00005N",
    ),
    (
        "sz-data-bureau",
        "深圳市政务服务和数据管理局",
        "Shenzhen Government Services and Data Management Bureau",
        OrgKind::Agency,
        "11440300MB2C00006R",
    ),
    (
        "pengcheng-mobility",
        "鹏城出行科技有限公司",
        "Pengcheng Mobility Technology Co., Ltd.",
        OrgKind::Enterprise,
        "91440300MA5F000007",
    ),
    (
        "qianhai-analytics",
        "前海数据分析有限公司",
        "Qianhai Data Analytics Co., Ltd.",
        OrgKind::Enterprise,
        "12100000MB0000000L",
    ),
];

const POWER_KW: [u32; 4] = [7, 60, 120, 180];
const OPERATORS: [&str; 3] = ["特来电", "星星充电", "南方电网"];
const PARK_INDUSTRIES: [&str; 3] = ["electronics", "biomedicine", "new energy"];

/// What a dataset's files hold.
#[derive(Debug, Clone, Copy)]
enum Kind {
    BusStops,
    BusRoutes,
    TrafficFlow,
    Parking,
    ChargingPiles,
    TaxiTrips,
    AirQuality,
    WaterQuality,
    Noise,
    PollutionSources,
    HospitalBeds,
    Clinics,
    Vaccination,
    DiseaseWeekly,
    BaseStations5g,
    BusinessRegistrations,
    IndustrialParks,
    Broadband,
    Population,
    Gdp,
    Energy,
    Schools,
    ServiceHalls,
    ServiceCases,
}

struct Spec {
    slug: String,
    agency: &'static str,
    /// Title and description in Chinese, the datasets' own language.
    title: String,
    description: String,
    /// Their English translation.
    title_en: String,
    description_en: String,
    keywords: Vec<&'static str>,
    themes: Vec<&'static str>,
    frequency: &'static str,
    classification: (SharingClass, OpeningClass, DataGrade),
    licence: Option<&'static str>,
    kind: Kind,
    district: Option<usize>,
    /// The state the demo leaves it in.
    stage: Stage,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Draft,
    InReview,
    Published,
    Withdrawn,
}

const OPEN: (SharingClass, OpeningClass, DataGrade) = (
    SharingClass::Unconditional,
    OpeningClass::Open,
    DataGrade::General,
);
const CONDITIONAL: (SharingClass, OpeningClass, DataGrade) = (
    SharingClass::Unconditional,
    OpeningClass::Conditional,
    DataGrade::General,
);
const IMPORTANT: (SharingClass, OpeningClass, DataGrade) = (
    SharingClass::Conditional,
    OpeningClass::Conditional,
    DataGrade::Important,
);
const SENSITIVE: (SharingClass, OpeningClass, DataGrade) = (
    SharingClass::Conditional,
    OpeningClass::Closed,
    DataGrade::Important,
);
const CORE: (SharingClass, OpeningClass, DataGrade) =
    (SharingClass::None, OpeningClass::Closed, DataGrade::Core);

/// A description written "中文。English." as its Chinese and its English part (the whole in
/// both when it has no such seam).
fn split_languages(about: &str) -> (&str, &str) {
    let seam = about
        .char_indices()
        .zip(about.chars().skip(1))
        .find(|((_, c), next)| *c == '。' && next.is_ascii_uppercase())
        .map(|((at, c), _)| at + c.len_utf8());
    match seam {
        Some(at) => (&about[..at], &about[at..]),
        None => (about, about),
    }
}

#[allow(clippy::too_many_arguments, reason = "a table row")]
fn spec(
    slug: &str,
    agency: &'static str,
    zh: &str,
    en: &str,
    about: &str,
    keywords: &[&'static str],
    themes: &[&'static str],
    frequency: &'static str,
    classification: (SharingClass, OpeningClass, DataGrade),
    kind: Kind,
) -> Spec {
    let licence = (classification.1 == OpeningClass::Open).then_some("CC-BY-4.0");
    let (about_zh, about_en) = split_languages(about);
    Spec {
        slug: slug.to_owned(),
        agency,
        title: zh.to_owned(),
        description: about_zh.to_owned(),
        title_en: en.to_owned(),
        description_en: about_en.to_owned(),
        keywords: keywords.to_vec(),
        themes: themes.to_vec(),
        frequency,
        classification,
        licence,
        kind,
        district: None,
        stage: Stage::Published,
    }
}

fn specs() -> Vec<Spec> {
    let mut all = vec![
        spec(
            "bus-stops",
            "sz-transport",
            "深圳市公交站点",
            "Shenzhen bus stops",
            "全市公交站点位置与名称，每日更新。Location and name of every bus stop in the city, updated daily.",
            &["bus", "公交", "stops", "站点"],
            &["TRAN"],
            "daily",
            OPEN,
            Kind::BusStops,
        ),
        spec(
            "bus-routes",
            "sz-transport",
            "公交线路",
            "Bus routes",
            "公交线路、起讫站与首末班时间。Bus routes with terminals and first and last departures.",
            &["bus", "公交", "routes"],
            &["TRAN"],
            "weekly",
            OPEN,
            Kind::BusRoutes,
        ),
        spec(
            "parking-occupancy",
            "sz-transport",
            "停车场实时占用",
            "Parking occupancy",
            "公共停车场泊位总数与占用情况。Capacity and occupancy of public car parks.",
            &["parking", "停车"],
            &["TRAN", "REGI"],
            "continuous",
            (
                SharingClass::Unconditional,
                OpeningClass::Open,
                DataGrade::General,
            ),
            Kind::Parking,
        ),
        spec(
            "ev-charging-piles",
            "sz-transport",
            "电动汽车充电桩",
            "EV charging piles",
            "公共充电桩位置、功率与运营商。Public charging piles with power and operator.",
            &["ev", "charging", "充电桩", "新能源"],
            &["TRAN", "ENER"],
            "monthly",
            OPEN,
            Kind::ChargingPiles,
        ),
        spec(
            "taxi-trips-2024",
            "sz-transport",
            "出租车行程汇总（2024）",
            "Taxi trips 2024, aggregated",
            "按小时和区汇总的出租车行程。Taxi trips aggregated by hour and district.",
            &["taxi", "出租车", "trips"],
            &["TRAN"],
            "monthly",
            IMPORTANT,
            Kind::TaxiTrips,
        ),
        spec(
            "water-quality-rivers",
            "sz-environment",
            "河流水质监测",
            "River water quality",
            "主要河流断面的水质监测结果。Water quality at monitoring sections of the main rivers.",
            &["water", "水质", "rivers"],
            &["ENVI"],
            "monthly",
            OPEN,
            Kind::WaterQuality,
        ),
        spec(
            "noise-monitoring",
            "sz-environment",
            "环境噪声监测",
            "Environmental noise",
            "功能区噪声等效声级。Equivalent noise levels by functional zone.",
            &["noise", "噪声"],
            &["ENVI", "HEAL"],
            "quarterly",
            OPEN,
            Kind::Noise,
        ),
        spec(
            "pollution-sources",
            "sz-environment",
            "重点排污单位",
            "Key pollution sources",
            "重点排污单位及其排放许可。Key pollutant-discharging units and their permits.",
            &["pollution", "排污"],
            &["ENVI"],
            "annual",
            IMPORTANT,
            Kind::PollutionSources,
        ),
        spec(
            "hospital-beds",
            "sz-health",
            "医院床位",
            "Hospital beds",
            "各医院核定床位与实际开放床位。Approved and open beds per hospital.",
            &["hospital", "医院", "beds", "床位"],
            &["HEAL"],
            "monthly",
            OPEN,
            Kind::HospitalBeds,
        ),
        spec(
            "community-health-centres",
            "sz-health",
            "社区健康服务中心",
            "Community health centres",
            "社区健康服务中心位置与服务时间。Community health centres with opening hours.",
            &["clinic", "社康"],
            &["HEAL"],
            "monthly",
            OPEN,
            Kind::Clinics,
        ),
        spec(
            "vaccination-sites",
            "sz-health",
            "疫苗接种点",
            "Vaccination sites",
            "疫苗接种点与可接种疫苗。Vaccination sites and the vaccines they give.",
            &["vaccination", "疫苗"],
            &["HEAL"],
            "weekly",
            OPEN,
            Kind::Vaccination,
        ),
        spec(
            "infectious-disease-weekly",
            "sz-health",
            "法定传染病周报",
            "Notifiable diseases weekly",
            "按病种统计的法定传染病报告数。Notified cases by disease, weekly.",
            &["disease", "传染病"],
            &["HEAL"],
            "weekly",
            SENSITIVE,
            Kind::DiseaseWeekly,
        ),
        spec(
            "inpatient-records",
            "sz-health",
            "住院病案首页",
            "Inpatient record summaries",
            "住院病案首页汇总，仅限卫生健康部门内部使用。Inpatient record summaries for the health commission only.",
            &["inpatient", "病案"],
            &["HEAL"],
            "monthly",
            CORE,
            Kind::HospitalBeds,
        ),
        spec(
            "industrial-parks",
            "sz-miit",
            "产业园区",
            "Industrial parks",
            "产业园区边界、主导产业与入驻企业数。Industrial parks with main industries and tenants.",
            &["industry", "产业园"],
            &["ECON", "TECH"],
            "annual",
            OPEN,
            Kind::IndustrialParks,
        ),
        spec(
            "broadband-coverage",
            "sz-miit",
            "宽带网络覆盖率",
            "Broadband coverage",
            "各区千兆光网与5G覆盖率。Gigabit fibre and 5G coverage per district.",
            &["broadband", "宽带", "5g"],
            &["TECH"],
            "quarterly",
            OPEN,
            Kind::Broadband,
        ),
        spec(
            "population-by-district",
            "sz-statistics",
            "分区常住人口",
            "Resident population by district",
            "各区年末常住人口与户籍人口。Year-end resident and registered population per district.",
            &["population", "人口"],
            &["SOCI", "REGI"],
            "annual",
            OPEN,
            Kind::Population,
        ),
        spec(
            "gdp-quarterly",
            "sz-statistics",
            "地区生产总值（季度）",
            "GDP, quarterly",
            "按行业划分的地区生产总值。Gross domestic product by industry, quarterly.",
            &["gdp", "经济"],
            &["ECON"],
            "quarterly",
            OPEN,
            Kind::Gdp,
        ),
        spec(
            "energy-consumption",
            "sz-statistics",
            "能源消费总量",
            "Energy consumption",
            "分行业能源消费量。Energy consumption by sector.",
            &["energy", "能源"],
            &["ENER", "ECON"],
            "annual",
            OPEN,
            Kind::Energy,
        ),
        spec(
            "schools",
            "sz-statistics",
            "中小学校名录",
            "Primary and secondary schools",
            "中小学校名录与在校生人数。Primary and secondary schools with enrolment.",
            &["schools", "学校", "education"],
            &["EDUC"],
            "annual",
            OPEN,
            Kind::Schools,
        ),
    ];
    for (index, (zh, en, _, _)) in DISTRICTS.iter().enumerate().take(6) {
        let mut s = spec(
            &format!("traffic-flow-{}", slugify(en)),
            "sz-transport",
            &format!("{zh}道路交通流量"),
            &format!("Road traffic flow, {en}"),
            &format!("{zh}主要路段每小时车流量。Hourly vehicle counts on the main roads of {en}."),
            &["traffic", "交通流量"],
            &["TRAN"],
            "hourly",
            CONDITIONAL,
            Kind::TrafficFlow,
        );
        s.district = Some(index);
        all.push(s);
        let mut s = spec(
            &format!("air-quality-{}", slugify(en)),
            "sz-environment",
            &format!("{zh}空气质量小时数据"),
            &format!("Hourly air quality, {en}"),
            &format!(
                "{zh}国控站点每小时AQI、PM2.5、PM10、O3、NO2。Hourly AQI, PM2.5, PM10, O3 and NO2 at the stations of {en}."
            ),
            &["air quality", "空气质量", "pm2.5"],
            &["ENVI", "HEAL"],
            "hourly",
            OPEN,
            Kind::AirQuality,
        );
        s.district = Some(index);
        all.push(s);
    }
    for (index, (zh, en, _, _)) in DISTRICTS.iter().enumerate() {
        let mut s = spec(
            &format!("5g-base-stations-{}", slugify(en)),
            "sz-miit",
            &format!("{zh}5G基站"),
            &format!("5G base stations, {en}"),
            &format!(
                "{zh}5G基站位置、运营商与频段，供开发利用。5G base stations of {en} with operator and band, for development use."
            ),
            &["5g", "基站", "telecom"],
            &["TECH", "REGI"],
            "monthly",
            CONDITIONAL,
            Kind::BaseStations5g,
        );
        s.district = Some(index);
        all.push(s);
    }
    for year in [2024, 2025] {
        all.push(spec(&format!("business-registrations-{year}"), "sz-miit",
            &format!("企业登记信息（{year}）"), &format!("Business registrations {year}"),
            &format!("{year}年新登记企业名称、行业与注册资本。Businesses registered in {year} with industry and capital."),
            &["business", "企业登记"], &["ECON"], "monthly", OPEN, Kind::BusinessRegistrations));
    }
    // The data bureau runs the platform for the city and publishes the government-service data.
    all.push(spec(
        "gov-service-halls",
        "sz-data-bureau",
        "政务服务大厅",
        "Government service halls",
        "各级政务服务大厅位置、办理时间与窗口数。Government service halls with opening hours and counters.",
        &["government service", "政务服务", "办事大厅"],
        &["GOVE", "REGI"],
        "monthly",
        OPEN,
        Kind::ServiceHalls,
    ));
    all.push(spec(
        "gov-service-cases",
        "sz-data-bureau",
        "政务服务办件量",
        "Government service cases",
        "按月、区和事项类别统计的政务服务办件量与网上办理率。Monthly government service cases per district and category, with the share handled online.",
        &["government service", "政务服务", "办件量"],
        &["GOVE", "SOCI"],
        "monthly",
        CONDITIONAL,
        Kind::ServiceCases,
    ));
    // A few in other states, so the workflow shows.
    if let Some(s) = all.iter_mut().find(|s| s.slug == "schools") {
        s.stage = Stage::Draft;
    }
    if let Some(s) = all.iter_mut().find(|s| s.slug == "energy-consumption") {
        s.stage = Stage::InReview;
    }
    if let Some(s) = all
        .iter_mut()
        .find(|s| s.slug == "business-registrations-2024")
    {
        s.stage = Stage::Withdrawn;
    }
    all
}

fn slugify(name: &str) -> String {
    name.to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect()
}

fn csv(header: &[&str], rows: Vec<Vec<String>>) -> (String, Vec<u8>) {
    let mut out = header.join(",");
    out.push('\n');
    for row in rows {
        out.push_str(
            &row.iter()
                .map(|v| {
                    if v.contains(',') {
                        format!("\"{v}\"")
                    } else {
                        v.clone()
                    }
                })
                .collect::<Vec<_>>()
                .join(","),
        );
        out.push('\n');
    }
    ("CSV".to_owned(), out.into_bytes())
}

fn point(rng: &mut Rng, district: usize) -> (f64, f64, &'static str, &'static str) {
    let (zh, en, lon, lat) = DISTRICTS[district % DISTRICTS.len()];
    (
        lon + (rng.unit() - 0.5) * 0.08,
        lat + (rng.unit() - 0.5) * 0.06,
        zh,
        en,
    )
}

fn geojson(features: Vec<serde_json::Value>) -> (String, Vec<u8>) {
    let collection = serde_json::json!({ "type": "FeatureCollection", "features": features });
    ("GeoJSON".to_owned(), collection.to_string().into_bytes())
}

fn feature(lon: f64, lat: f64, properties: serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "type": "Feature",
        "geometry": { "type": "Point", "coordinates": [(lon * 1e6).round() / 1e6, (lat * 1e6).round() / 1e6] },
        "properties": properties,
    })
}

/// The files of a dataset: (format, bytes) pairs.
fn files(spec: &Spec, rng: &mut Rng) -> Vec<(String, Vec<u8>)> {
    let district = spec.district.unwrap_or(0);
    let hours = || (0..48).map(|h| format!("2025-06-{:02}T{:02}:00:00+08:00", 1 + h / 24, h % 24));
    match spec.kind {
        Kind::BusStops => {
            let stops: Vec<(String, f64, f64, &str)> = (0..120)
                .map(|i| {
                    let (lon, lat, zh, _) = point(rng, i % DISTRICTS.len());
                    (format!("{zh}{}号站", i + 1), lon, lat, zh)
                })
                .collect();
            let features = stops.iter().enumerate()
                .map(|(i, (name, lon, lat, d))| feature(*lon, *lat, serde_json::json!({ "stop_id": format!("S{:05}", i + 1), "name": name, "district": d })))
                .collect();
            let rows = stops
                .iter()
                .enumerate()
                .map(|(i, (name, lon, lat, d))| {
                    vec![
                        format!("S{:05}", i + 1),
                        name.clone(),
                        (*d).to_owned(),
                        format!("{lon:.6}"),
                        format!("{lat:.6}"),
                    ]
                })
                .collect();
            vec![
                geojson(features),
                csv(&["stop_id", "name", "district", "lon", "lat"], rows),
            ]
        }
        Kind::BusRoutes => {
            let rows = (1..=80)
                .map(|i| {
                    vec![
                        format!("{i}"),
                        format!("{}路", i),
                        DISTRICTS[i % 8].0.to_owned(),
                        DISTRICTS[(i * 3) % 8].0.to_owned(),
                        "06:30".into(),
                        "22:30".into(),
                    ]
                })
                .collect();
            vec![csv(
                &[
                    "route_id",
                    "name",
                    "from_district",
                    "to_district",
                    "first_departure",
                    "last_departure",
                ],
                rows,
            )]
        }
        Kind::TrafficFlow => {
            let rows = hours()
                .flat_map(|hour| (1..=5).map(move |road| (hour.clone(), road)))
                .map(|(hour, road)| {
                    vec![
                        hour,
                        format!("R{district}{road:02}"),
                        format!("{}", 300 + rng.below(2400)),
                        format!("{:.1}", 20.0 + rng.unit() * 40.0),
                    ]
                })
                .collect();
            vec![csv(
                &["hour", "road_id", "vehicles", "mean_speed_kmh"],
                rows,
            )]
        }
        Kind::Parking => {
            let lots: Vec<serde_json::Value> = (0..60).map(|i| {
                let capacity = 100 + rng.below(900);
                serde_json::json!({ "lot_id": format!("P{i:04}"), "district": DISTRICTS[i % 8].1, "capacity": capacity, "occupied": rng.below(capacity), "updated": "2025-06-01T08:00:00+08:00" })
            }).collect();
            vec![(
                "JSON".to_owned(),
                serde_json::to_vec(&lots).unwrap_or_default(),
            )]
        }
        Kind::ChargingPiles => {
            let features = (0..150).map(|i| {
                let (lon, lat, zh, _) = point(rng, i);
                feature(lon, lat, serde_json::json!({ "pile_id": format!("EV{i:05}"), "district": zh, "power_kw": POWER_KW[i % 4], "operator": OPERATORS[i % 3] }))
            }).collect();
            vec![geojson(features)]
        }
        Kind::TaxiTrips => {
            let rows = hours()
                .flat_map(|h| DISTRICTS.iter().map(move |d| (h.clone(), d.1)))
                .map(|(h, d)| {
                    vec![
                        h,
                        d.to_owned(),
                        format!("{}", 200 + rng.below(3000)),
                        format!("{:.1}", 3.0 + rng.unit() * 12.0),
                    ]
                })
                .collect();
            vec![csv(&["hour", "district", "trips", "mean_km"], rows)]
        }
        Kind::AirQuality => {
            let rows = hours()
                .map(|h| {
                    let pm25 = 8.0 + rng.unit() * 45.0;
                    vec![
                        h,
                        DISTRICTS[district].1.to_owned(),
                        format!("{}", (pm25 * 1.4) as u32 + 10),
                        format!("{pm25:.1}"),
                        format!("{:.1}", pm25 * 1.6),
                        format!("{:.1}", 30.0 + rng.unit() * 90.0),
                        format!("{:.1}", 10.0 + rng.unit() * 40.0),
                    ]
                })
                .collect();
            vec![csv(
                &["hour", "district", "aqi", "pm25", "pm10", "o3", "no2"],
                rows,
            )]
        }
        Kind::WaterQuality => {
            let rivers = ["深圳河", "茅洲河", "龙岗河", "观澜河", "坪山河"];
            let rows = rivers
                .iter()
                .flat_map(|r| (1..=6).map(move |m| (r, m)))
                .map(|(r, m)| {
                    vec![
                        (*r).to_owned(),
                        format!("2025-{m:02}"),
                        ["II", "III", "IV"][rng.below(3) as usize].to_owned(),
                        format!("{:.2}", 5.0 + rng.unit() * 3.0),
                        format!("{:.2}", rng.unit() * 1.5),
                    ]
                })
                .collect();
            vec![csv(
                &[
                    "river",
                    "month",
                    "class",
                    "dissolved_oxygen_mg_l",
                    "ammonia_mg_l",
                ],
                rows,
            )]
        }
        Kind::Noise => {
            let rows = DISTRICTS
                .iter()
                .map(|d| {
                    vec![
                        d.0.to_owned(),
                        format!("{:.1}", 50.0 + rng.unit() * 10.0),
                        format!("{:.1}", 42.0 + rng.unit() * 8.0),
                    ]
                })
                .collect();
            vec![csv(&["district", "day_leq_db", "night_leq_db"], rows)]
        }
        Kind::PollutionSources => {
            let rows = (1..=40)
                .map(|i| {
                    vec![
                        format!("PS{i:03}"),
                        format!("排污单位{i}"),
                        DISTRICTS[i % 8].0.to_owned(),
                        ["wastewater", "air", "solid"][i % 3].to_owned(),
                    ]
                })
                .collect();
            vec![csv(&["unit_id", "name", "district", "discharge"], rows)]
        }
        Kind::HospitalBeds => {
            let rows = (1..=30)
                .map(|i| {
                    let approved = 200 + rng.below(1800);
                    vec![
                        format!("H{i:03}"),
                        format!("深圳市第{i}人民医院"),
                        DISTRICTS[i % 8].0.to_owned(),
                        format!("{approved}"),
                        format!("{}", approved - rng.below(approved / 5)),
                    ]
                })
                .collect();
            vec![csv(
                &[
                    "hospital_id",
                    "name",
                    "district",
                    "approved_beds",
                    "open_beds",
                ],
                rows,
            )]
        }
        Kind::Clinics => {
            let features = (0..90).map(|i| { let (lon, lat, zh, _) = point(rng, i); feature(lon, lat, serde_json::json!({ "centre_id": format!("C{i:04}"), "name": format!("{zh}社康中心{i}"), "hours": "08:00-20:00" })) }).collect();
            vec![geojson(features)]
        }
        Kind::Vaccination => {
            let rows = (1..=50)
                .map(|i| {
                    vec![
                        format!("V{i:03}"),
                        DISTRICTS[i % 8].0.to_owned(),
                        ["influenza", "hpv", "hepatitis_b"][i % 3].to_owned(),
                    ]
                })
                .collect();
            vec![csv(&["site_id", "district", "vaccine"], rows)]
        }
        Kind::DiseaseWeekly => {
            let rows = (1..=26)
                .flat_map(|w| ["influenza", "dengue", "hand_foot_mouth"].map(|d| (w, d)))
                .map(|(w, d)| {
                    vec![
                        format!("2025-W{w:02}"),
                        d.to_owned(),
                        format!("{}", rng.below(400)),
                    ]
                })
                .collect();
            vec![csv(&["week", "disease", "cases"], rows)]
        }
        Kind::BaseStations5g => {
            let rows = (1..=200)
                .map(|i| {
                    let (lon, lat, zh, _) = point(rng, district);
                    vec![
                        format!("BS{district}{i:04}"),
                        zh.to_owned(),
                        ["China Mobile", "China Telecom", "China Unicom"][i % 3].to_owned(),
                        ["n41", "n78", "n28"][i % 3].to_owned(),
                        format!("{lon:.6}"),
                        format!("{lat:.6}"),
                    ]
                })
                .collect();
            vec![csv(
                &["station_id", "district", "operator", "band", "lon", "lat"],
                rows,
            )]
        }
        Kind::BusinessRegistrations => {
            let industries = [
                "software",
                "manufacturing",
                "logistics",
                "retail",
                "finance",
                "biotech",
            ];
            let rows = (1..=300)
                .map(|i| {
                    vec![
                        format!("R{i:05}"),
                        format!(
                            "深圳{}科技有限公司",
                            ["鹏", "海", "星", "云", "芯", "华"][i % 6]
                        ),
                        industries[i % 6].to_owned(),
                        DISTRICTS[i % 8].0.to_owned(),
                        format!("{}", (1 + rng.below(500)) * 10_000),
                    ]
                })
                .collect();
            vec![csv(
                &[
                    "registration_id",
                    "name",
                    "industry",
                    "district",
                    "capital_cny",
                ],
                rows,
            )]
        }
        Kind::IndustrialParks => {
            let features = (0..25).map(|i| { let (lon, lat, zh, _) = point(rng, i); feature(lon, lat, serde_json::json!({ "park": format!("{zh}产业园{i}"), "industry": PARK_INDUSTRIES[i % 3], "tenants": 20 + rng.below(300) })) }).collect();
            vec![geojson(features)]
        }
        Kind::Broadband => {
            let rows = DISTRICTS
                .iter()
                .map(|d| {
                    vec![
                        d.0.to_owned(),
                        format!("{:.1}", 90.0 + rng.unit() * 10.0),
                        format!("{:.1}", 95.0 + rng.unit() * 5.0),
                    ]
                })
                .collect();
            vec![csv(
                &["district", "gigabit_fibre_pct", "coverage_5g_pct"],
                rows,
            )]
        }
        Kind::Population => {
            let rows = DISTRICTS
                .iter()
                .map(|d| {
                    vec![
                        d.0.to_owned(),
                        d.1.to_owned(),
                        format!("{}", 500_000 + rng.below(3_000_000)),
                        format!("{}", 200_000 + rng.below(1_500_000)),
                    ]
                })
                .collect();
            vec![csv(
                &["district", "district_en", "resident", "registered"],
                rows,
            )]
        }
        Kind::Gdp => {
            let rows = (1..=4)
                .flat_map(|q| ["primary", "secondary", "tertiary"].map(|s| (q, s)))
                .map(|(q, s)| {
                    vec![
                        format!("2025Q{q}"),
                        s.to_owned(),
                        format!("{:.1}", 10.0 + rng.unit() * 5000.0),
                    ]
                })
                .collect();
            vec![csv(&["quarter", "sector", "gdp_100m_cny"], rows)]
        }
        Kind::Energy => {
            let rows = ["industry", "transport", "residential", "commercial"]
                .iter()
                .map(|s| {
                    vec![
                        (*s).to_owned(),
                        format!("{:.1}", 100.0 + rng.unit() * 2000.0),
                    ]
                })
                .collect();
            vec![csv(&["sector", "consumption_10k_tce"], rows)]
        }
        Kind::Schools => {
            let rows = (1..=60)
                .map(|i| {
                    vec![
                        format!("SC{i:03}"),
                        format!("{}第{i}小学", DISTRICTS[i % 8].0),
                        DISTRICTS[i % 8].0.to_owned(),
                        format!("{}", 600 + rng.below(2400)),
                    ]
                })
                .collect();
            vec![csv(&["school_id", "name", "district", "pupils"], rows)]
        }
        Kind::ServiceHalls => {
            let halls: Vec<(String, f64, f64, &str, u64)> = (0..40)
                .map(|i| {
                    let (lon, lat, zh, _) = point(rng, i);
                    (
                        format!("{zh}政务服务中心第{}分中心", i / 8 + 1),
                        lon,
                        lat,
                        zh,
                        6 + rng.below(40),
                    )
                })
                .collect();
            let features = halls.iter().enumerate()
                .map(|(i, (name, lon, lat, d, counters))| feature(*lon, *lat, serde_json::json!({ "hall_id": format!("H{:03}", i + 1), "name": name, "district": d, "hours": "09:00-18:00", "counters": counters })))
                .collect();
            let rows = halls
                .iter()
                .enumerate()
                .map(|(i, (name, lon, lat, d, counters))| {
                    vec![
                        format!("H{:03}", i + 1),
                        name.clone(),
                        (*d).to_owned(),
                        "09:00-18:00".to_owned(),
                        counters.to_string(),
                        format!("{lon:.6}"),
                        format!("{lat:.6}"),
                    ]
                })
                .collect();
            vec![
                geojson(features),
                csv(
                    &[
                        "hall_id", "name", "district", "hours", "counters", "lon", "lat",
                    ],
                    rows,
                ),
            ]
        }
        Kind::ServiceCases => {
            const CATEGORIES: [&str; 4] = [
                "企业开办 business start-up",
                "社会保障 social insurance",
                "不动产登记 real estate",
                "出入境 exit and entry",
            ];
            let rows = (0..24)
                .flat_map(|m| DISTRICTS.iter().map(move |d| (m, d.0)))
                .flat_map(|(m, d)| CATEGORIES.iter().map(move |c| (m, d, *c)))
                .map(|(m, d, c)| {
                    vec![
                        format!("{}-{:02}", 2024 + m / 12, m % 12 + 1),
                        d.to_owned(),
                        c.to_owned(),
                        format!("{}", 800 + rng.below(12_000)),
                        format!("{:.3}", 0.55 + rng.unit() * 0.4),
                    ]
                })
                .collect();
            vec![csv(
                &["month", "district", "category", "cases", "online_share"],
                rows,
            )]
        }
    }
}

/// The seed of the catalog's generated files.
const FILES_SEED: u64 = 20_260_601;
/// The seed of the story: its pace, its requests and its traffic.
const STORY_SEED: u64 = 20_260_901;

/// The services the demo's past is written through, all reading one manual clock.
pub(crate) struct Past {
    /// The clock the story moves forward.
    pub clock: Arc<ManualClock>,
    /// Accounts and organisations.
    pub access: AccessService,
    /// The catalog.
    pub catalog: CatalogService,
    /// Licences, offers, requests, grants and the data path's appender.
    pub licensing: LicensingService,
}

/// One file of a dataset, as the data path opens it.
#[derive(Debug, Clone)]
pub(crate) struct File {
    /// The distribution.
    pub id: DistributionId,
    /// Its storage key.
    pub key: String,
    /// Its size in bytes.
    pub size: u64,
}

/// What the story needs of the loaded catalog.
pub(crate) struct City {
    /// The demo users, by organisation slug and account name (`admin`, `reviewer` …).
    pub principals: HashMap<(&'static str, &'static str), Principal>,
    /// The files of each dataset, by slug.
    pub files: HashMap<String, Vec<File>>,
    /// The published open datasets, in catalog order.
    pub open: Vec<String>,
    /// The published datasets that are conditional for someone (sharing or opening class), with
    /// their owning agency.
    pub conditional: Vec<(String, &'static str, Classification)>,
}

impl City {
    /// A demo user's principal.
    pub(crate) fn principal(&self, org: &str, name: &str) -> Result<&Principal, ServerError> {
        self.principals
            .iter()
            .find(|((o, n), _)| *o == org && *n == name)
            .map(|(_, p)| p)
            .ok_or_else(|| ServerError::Demo(format!("no demo account {name}@{org}")))
    }

    /// A dataset's files.
    pub(crate) fn files(&self, slug: &str) -> Result<&[File], ServerError> {
        self.files
            .get(slug)
            .map(Vec::as_slice)
            .ok_or_else(|| ServerError::Demo(format!("no demo dataset {slug}")))
    }
}

/// The demo accounts, as printed.
fn accounts() -> Vec<DemoAccount> {
    let mut accounts = vec![
        DemoAccount {
            email: "platform-admin@demo.pdx".into(),
            role: "platform admin (verifies enterprises, licences)".into(),
        },
        DemoAccount {
            email: "auditor@demo.pdx".into(),
            role: "auditor (platform)".into(),
        },
    ];
    for (slug, _, en, kind, _) in ORGANIZATIONS {
        let roles = match kind {
            OrgKind::Agency => vec!["admin", "publisher", "reviewer"],
            _ => vec!["admin", "member"],
        };
        for role in roles {
            accounts.push(DemoAccount {
                email: format!("{role}@{slug}.demo.pdx"),
                role: format!("{role} of {en}"),
            });
        }
    }
    for registered in story::REGISTRATIONS {
        accounts.push(DemoAccount {
            email: registered.email.to_owned(),
            role: if registered.verified_on.is_some() {
                format!("admin of {} (registered itself)", registered.en)
            } else {
                format!(
                    "admin of {} (registration pending verification)",
                    registered.en
                )
            },
        });
    }
    accounts
}

/// Loads the demo unless it is already there; returns the demo accounts either way.
///
/// The demo is a city's last three months: its catalog set up, licences and offers made,
/// requests reviewed, grants used, suspended and expired, and the circulation of every day.
/// That past is written through the services under a manual clock, in the order it happened,
/// so every row and ledger entry is dated when it happened in the story, and every data request
/// was decided by the real decision at its time. The ledger's first entry of the load, at the
/// wall clock's time, says that the entries after it dated earlier are this generated history.
pub async fn load(
    access: &AccessService,
    catalog: &CatalogService,
    rows: &pdx_rows::RowService,
    database: &Database,
) -> Result<Vec<DemoAccount>, ServerError> {
    let accounts = accounts();
    if access
        .resolve_organization(ORGANIZATIONS[0].0)
        .await
        .is_ok()
    {
        // The pending registration is the story's last step: it exists once a load finished.
        if access
            .resolve_organization(story::PENDING_ENTERPRISE)
            .await
            .is_ok()
        {
            tracing::info!("the demo is already loaded");
            return Ok(accounts);
        }
        return Err(ServerError::Demo(
            "a demo load was interrupted; start again from an empty data directory".into(),
        ));
    }
    let started = std::time::Instant::now();
    // History ends a minute before now, so whatever the server records next comes after it.
    let until = SystemClock.now() - Duration::minutes(1);
    let from = story::start_of(until);
    access
        .record_demo_loaded(serde_json::json!({
            "history_from": from.to_rfc3339(),
            "history_until": until.to_rfc3339(),
            "seed": STORY_SEED,
            "note": "the entries after this one dated before it are the demo's generated history",
        }))
        .await?;
    let clock = Arc::new(ManualClock::new(from));
    let shared: Arc<dyn Clock> = clock.clone();
    let past = Past {
        clock,
        access: access.with_clock(Arc::clone(&shared)),
        catalog: catalog.with_clock(Arc::clone(&shared)),
        licensing: LicensingService::new(database.clone(), shared),
    };
    let mut pace = Rng(STORY_SEED);
    let city = load_catalog(&past, &mut pace).await?;
    let told = story::play(&past, &city, &mut pace, until).await?;
    let tables = load_tables(rows, &city).await?;
    tracing::info!(
        datasets = city.files.len(),
        data_requests = told.data_requests,
        days = told.days,
        tables,
        elapsed_ms = started.elapsed().as_millis(),
        "loaded the demo"
    );
    Ok(accounts)
}

/// Loads the demo's tabular files into tables of rows, so that their rows can be queried, and
/// waits for them. It runs after the history, at the present time (ingestions are logged).
async fn load_tables(rows: &pdx_rows::RowService, city: &City) -> Result<usize, ServerError> {
    let context = loader_context();
    let mut started = Vec::new();
    for spec in specs() {
        let Some(files) = city.files.get(&spec.slug) else {
            continue;
        };
        let publisher = city.principal(spec.agency, "publisher")?;
        for file in files {
            let options = pdx_rows::model::IngestOptions::default();
            match rows.ingest(publisher, file.id, options, &context).await {
                Ok(_) => started.push((publisher, file.id)),
                Err(pdx_rows::RowsError::NotTabular) => {}
                Err(error) => {
                    return Err(ServerError::Demo(format!(
                        "cannot load {}'s rows: {error}",
                        spec.slug
                    )));
                }
            }
        }
    }
    for (publisher, id) in &started {
        loop {
            let found = rows
                .ingestions(publisher, *id)
                .await
                .map_err(|e| ServerError::Demo(format!("cannot follow an ingestion: {e}")))?;
            match found.first().map(|i| i.state) {
                Some(pdx_rows::model::IngestionState::Running) => {
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
                Some(pdx_rows::model::IngestionState::Failed) => {
                    return Err(ServerError::Demo(format!(
                        "a demo file could not be loaded: {:?}",
                        found.first().and_then(|i| i.error.clone())
                    )));
                }
                _ => break,
            }
        }
    }
    Ok(started.len())
}

/// Creates the organisations, the demo users and the catalog, a few minutes apart each.
async fn load_catalog(past: &Past, pace: &mut Rng) -> Result<City, ServerError> {
    let (access, catalog) = (&past.access, &past.catalog);
    let mut org_ids = Vec::new();
    for (slug, zh, en, kind, code) in ORGANIZATIONS {
        let organization = access
            .create_organization_as_operator(OrganizationInput {
                name: format!("{zh} {en}"),
                slug: Some((*slug).to_owned()),
                kind: *kind,
                credit_code: Some((*code).to_owned()),
                contact_email: Some(format!("contact@{slug}.demo.pdx")),
                contact_phone: None,
            })
            .await?;
        org_ids.push((*slug, organization.id, *kind));
        past.clock.advance(Duration::seconds(20));
    }
    let platform = access.resolve_organization("platform").await?;
    let mut principals = HashMap::new();
    for (email, name, role, key) in [
        (
            "platform-admin@demo.pdx",
            "Demo Platform Admin 平台管理员",
            Role::PlatformAdmin,
            "platform-admin",
        ),
        (
            "auditor@demo.pdx",
            "Demo Auditor 审计员",
            Role::Auditor,
            "auditor",
        ),
    ] {
        let user = access
            .create_user_as_operator("platform", email, name, DEMO_PASSWORD, vec![role], false)
            .await?;
        principals.insert(
            ("platform", key),
            demo_principal(user.id, platform, OrgKind::Platform, role),
        );
    }
    for (slug, org, kind) in &org_ids {
        let roles: &[(&str, Role)] = match kind {
            OrgKind::Agency => &[
                ("admin", Role::Admin),
                ("publisher", Role::Publisher),
                ("reviewer", Role::Reviewer),
            ],
            _ => &[("admin", Role::Admin), ("member", Role::Member)],
        };
        for (name, role) in roles {
            let user = access
                .create_user_as_operator(
                    slug,
                    &format!("{name}@{slug}.demo.pdx"),
                    &format!("Demo {name}"),
                    DEMO_PASSWORD,
                    vec![*role],
                    false,
                )
                .await?;
            principals.insert((*slug, *name), demo_principal(user.id, *org, *kind, *role));
        }
        past.clock.advance(Duration::seconds(30));
    }
    let mut rng = Rng(FILES_SEED);
    let context = loader_context();
    let catalog_error = |e: pdx_catalog::CatalogError| ServerError::Demo(format!("catalog: {e}"));
    let all = specs();
    let mut city = City {
        principals,
        files: HashMap::new(),
        open: Vec::new(),
        conditional: Vec::new(),
    };
    for spec in &all {
        let (Some(publisher), Some(reviewer)) = (
            city.principals.get(&(spec.agency, "publisher")),
            city.principals.get(&(spec.agency, "reviewer")),
        ) else {
            return Err(ServerError::Demo(format!("unknown agency {}", spec.agency)));
        };
        let (sharing, opening, grade) = spec.classification;
        let classification = Classification {
            sharing,
            opening,
            grade,
        };
        let input = DatasetInput {
            slug: Some(spec.slug.clone()),
            title: spec.title.clone(),
            description: spec.description.clone(),
            translations: [(
                "en".to_owned(),
                Translation {
                    title: spec.title_en.clone(),
                    description: spec.description_en.clone(),
                },
            )]
            .into(),
            keywords: spec.keywords.iter().map(|k| (*k).to_owned()).collect(),
            themes: spec.themes.iter().map(|t| (*t).to_owned()).collect(),
            contact_name: Some("数据管理处 Data Office".into()),
            contact_email: Some(format!("data@{}.demo.pdx", spec.agency)),
            spatial: Some(spec.district.map_or("深圳市 Shenzhen".to_owned(), |d| {
                format!("深圳市{} Shenzhen {}", DISTRICTS[d].0, DISTRICTS[d].1)
            })),
            temporal_start: NaiveDate::from_ymd_opt(2024, 1, 1),
            temporal_end: NaiveDate::from_ymd_opt(2025, 12, 31),
            update_frequency: spec.frequency.to_owned(),
            languages: vec!["zh".into(), "en".into()],
            resource_code: Some(format!(
                "440300-{}-{:04}",
                spec.agency.trim_start_matches("sz-").to_uppercase(),
                rng.below(10_000)
            )),
            classification,
            licence: spec.licence.map(str::to_owned),
            landing_page: Some(format!("https://data.demo.pdx/{}", spec.slug)),
        };
        catalog
            .create_dataset(publisher, input, &context)
            .await
            .map_err(catalog_error)?;
        let mut uploaded = Vec::new();
        for (format, bytes) in files(spec, &mut rng) {
            let extension = match format.as_str() {
                "GeoJSON" => "geojson",
                "JSON" => "json",
                _ => "csv",
            };
            let body = futures_util::stream::iter([Ok::<Bytes, Infallible>(Bytes::from(bytes))]);
            let distribution = catalog
                .upload_distribution(
                    publisher,
                    &spec.slug,
                    DistributionInput {
                        title: Some(format!("{} {} ({format})", spec.title, spec.title_en)),
                        format: Some(format.clone()),
                        file_name: Some(format!("{}.{extension}", spec.slug)),
                        ..DistributionInput::default()
                    },
                    body,
                    &context,
                )
                .await
                .map_err(catalog_error)?;
            if let Some(key) = distribution.storage_key {
                uploaded.push(File {
                    id: distribution.id,
                    key,
                    size: distribution
                        .byte_size
                        .and_then(|s| u64::try_from(s).ok())
                        .unwrap_or(0),
                });
            }
        }
        let steps: &[(LifecycleAction, bool)] = match spec.stage {
            Stage::Draft => &[],
            Stage::InReview => &[(LifecycleAction::Submit, false)],
            Stage::Published => &[
                (LifecycleAction::Submit, false),
                (LifecycleAction::Publish, true),
            ],
            Stage::Withdrawn => &[
                (LifecycleAction::Submit, false),
                (LifecycleAction::Publish, true),
                (LifecycleAction::Withdraw, true),
            ],
        };
        for (action, by_reviewer) in steps {
            // A reviewer takes a while to look at a submission.
            past.clock.advance(Duration::seconds(
                20 + i64::try_from(pace.below(180)).unwrap_or(0),
            ));
            let actor = if *by_reviewer { reviewer } else { publisher };
            catalog
                .transition(actor, &spec.slug, *action, None, &context)
                .await
                .map_err(catalog_error)?;
        }
        if spec.stage == Stage::Published {
            if opening == OpeningClass::Open {
                city.open.push(spec.slug.clone());
            } else if story::requestable_by_someone(classification) {
                city.conditional
                    .push((spec.slug.clone(), spec.agency, classification));
            }
        }
        city.files.insert(spec.slug.clone(), uploaded);
        past.clock.advance(Duration::seconds(30));
    }
    Ok(city)
}

fn demo_principal(
    user: pdx_core::UserId,
    org: pdx_core::OrganizationId,
    kind: OrgKind,
    role: Role,
) -> Principal {
    Principal {
        user,
        org,
        org_kind: kind,
        roles: [role].into_iter().collect::<RoleSet>(),
        token_id: "demo-loader".into(),
        api_key: None,
    }
}

/// What the loader's events carry instead of a client's request.
pub(crate) fn loader_context() -> pdx_access::RequestContext {
    pdx_access::RequestContext {
        request_id: None,
        client_address: Some("demo-loader".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_has_enough_datasets_across_themes_and_classifications() {
        let all = specs();
        assert!(all.len() >= 40, "{} datasets", all.len());
        let themes: std::collections::BTreeSet<&str> =
            all.iter().flat_map(|s| s.themes.iter().copied()).collect();
        assert!(themes.len() >= 8, "{themes:?}");
        for spec in &all {
            let (sharing, opening, grade) = spec.classification;
            let c = Classification {
                sharing,
                opening,
                grade,
            };
            assert!(c.check(spec.licence.is_some()).is_ok(), "{}", spec.slug);
        }
        let mut slugs: Vec<&str> = all.iter().map(|s| s.slug.as_str()).collect();
        slugs.sort_unstable();
        slugs.dedup();
        assert_eq!(slugs.len(), all.len(), "slugs are unique");
    }

    #[test]
    fn generated_files_are_deterministic() {
        let all = specs();
        let first: Vec<_> = all.iter().flat_map(|s| files(s, &mut Rng(7))).collect();
        let second: Vec<_> = all.iter().flat_map(|s| files(s, &mut Rng(7))).collect();
        assert_eq!(first, second);
        assert!(first.iter().all(|(_, bytes)| !bytes.is_empty()));
    }
}
