//! The benchmark catalog: N published datasets of realistic, varied metadata (bilingual
//! titles, keywords, themes, formats, classifications) under 20 agencies, shared by the examples.

use chrono::Utc;
use pdx_access::store::NewOrganization;
use pdx_catalog::model::{DatasetInput, DatasetStatus, Distribution, DistributionKind};
use pdx_catalog::store;
use pdx_core::{Classification, DataGrade, DistributionId, OpeningClass, OrgKind, SharingClass};
use pdx_storage::Database;
use pdx_storage::database::transaction;

/// Datasets inserted per transaction.
const BATCH: usize = 5_000;

const SUBJECTS: &[(&str, &str, &str)] = &[
    ("公交站点", "bus stops", "TRAN"),
    ("空气质量", "air quality", "ENVI"),
    ("交通流量", "traffic flow", "TRAN"),
    ("停车场", "parking", "TRAN"),
    ("充电桩", "charging piles", "ENER"),
    ("基站", "base stations", "TECH"),
    ("医院床位", "hospital beds", "HEAL"),
    ("企业登记", "business registrations", "ECON"),
    ("学校", "schools", "EDUC"),
    ("人口", "population", "SOCI"),
    ("水质", "water quality", "ENVI"),
    ("噪声", "noise", "ENVI"),
    ("农产品价格", "farm prices", "AGRI"),
    ("治安案件", "public safety incidents", "JUST"),
    ("财政预算", "budget", "GOVE"),
    ("能源消费", "energy consumption", "ENER"),
];
const PLACES: &[(&str, &str)] = &[
    ("福田区", "Futian"),
    ("罗湖区", "Luohu"),
    ("南山区", "Nanshan"),
    ("宝安区", "Bao'an"),
    ("龙岗区", "Longgang"),
    ("龙华区", "Longhua"),
    ("盐田区", "Yantian"),
    ("坪山区", "Pingshan"),
    ("光明区", "Guangming"),
    ("大鹏新区", "Dapeng"),
];
const FORMATS: &[(&str, &str)] = &[
    ("CSV", "text/csv"),
    ("JSON", "application/json"),
    ("GeoJSON", "application/geo+json"),
    (
        "XLSX",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ),
];

/// Inserts `count` published datasets (slugs `bench-0`, `bench-1`, …) straight into a migrated
/// database, calling `progress` with the number inserted so far after each batch.
pub(crate) fn seed(
    database: &Database,
    count: usize,
    mut progress: impl FnMut(usize),
) -> anyhow::Result<()> {
    let mut conn = database.conn()?;
    let now = Utc::now();
    let mut agencies = Vec::new();
    for i in 0..20 {
        let org = pdx_access::store::insert_organization(
            &mut conn,
            &NewOrganization {
                slug: format!("bench-agency-{i}"),
                name: format!("Bench Agency {i}"),
                kind: OrgKind::Agency,
                credit_code: None,
                verified: true,
                contact_email: None,
                contact_phone: None,
            },
            now,
        )?;
        agencies.push(org.id);
    }
    for first in (0..count).step_by(BATCH) {
        let chunk = first..count.min(first + BATCH);
        transaction(&mut conn, |conn| -> Result<(), pdx_catalog::CatalogError> {
            for i in chunk.clone() {
                let (zh, en, theme) = SUBJECTS[i % SUBJECTS.len()];
                let (place_zh, place_en) = PLACES[(i / SUBJECTS.len()) % PLACES.len()];
                let year = 2015 + (i % 11);
                let opening = [
                    OpeningClass::Open,
                    OpeningClass::Open,
                    OpeningClass::Conditional,
                ][i % 3];
                let input = DatasetInput {
                    slug: Some(format!("bench-{i}")),
                    title: format!("{place_zh}{zh}（{year}） {en}, {place_en} {year}"),
                    description: format!(
                        "{place_zh}{year}年{zh}数据，按月更新。Monthly {en} data for {place_en}, {year}, series {i}."
                    ),
                    translations: Default::default(),
                    keywords: vec![
                        en.split(' ').next().unwrap_or(en).to_owned(),
                        zh.to_owned(),
                        place_en.to_lowercase(),
                    ],
                    themes: vec![theme.to_owned()],
                    contact_name: Some("Data Office".into()),
                    contact_email: Some("data@bench.test".into()),
                    spatial: Some(format!("深圳市{place_zh}")),
                    temporal_start: None,
                    temporal_end: None,
                    update_frequency: "monthly".into(),
                    languages: vec!["zh".into(), "en".into()],
                    resource_code: Some(format!("BENCH-{i:06}")),
                    classification: Classification {
                        sharing: SharingClass::Unconditional,
                        opening,
                        grade: DataGrade::General,
                    },
                    licence: (opening == OpeningClass::Open).then(|| "CC-BY-4.0".to_owned()),
                    landing_page: None,
                };
                let id = store::insert_dataset(
                    conn,
                    agencies[i % agencies.len()],
                    &format!("bench-{i}"),
                    &input,
                    now,
                )?;
                // Every subject meets every place in every format, for the varied search's
                // combinations.
                let (format, media_type) =
                    FORMATS[(i / (SUBJECTS.len() * PLACES.len())) % FORMATS.len()];
                store::insert_distribution(
                    conn,
                    &Distribution {
                        id: DistributionId::new(),
                        dataset_id: id,
                        title: format!("{en} ({format})"),
                        description: None,
                        kind: DistributionKind::File,
                        format: format.to_owned(),
                        media_type: media_type.to_owned(),
                        byte_size: Some(10_240),
                        sha256: None,
                        storage_key: None,
                        access_url: None,
                        columns: None,
                        created_at: now,
                        modified_at: now,
                        published_version: Some(1),
                    },
                )?;
                store::set_status(conn, id, DatasetStatus::Published, None, Some(1), now)?;
            }
            Ok(())
        })?;
        progress(chunk.end);
    }
    Ok(())
}
