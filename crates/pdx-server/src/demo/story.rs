//! The demo city's last three months, told in order under the manual clock: licences and
//! offers, enterprises registering, access requests in every state, grants that stay active,
//! run out of quota, are suspended or expire, and every day's data requests, decided and
//! ledgered by the data path's own appender at the time they are said to happen.

use chrono::{Datelike, Duration, NaiveTime, Weekday};
use pdx_access::service::EnterpriseRegistration;
use pdx_core::{
    AccessRequestId, Classification, Clock, OpeningClass, OrgKind, Principal, Role, SharingClass,
    Timestamp,
};
use pdx_licensing::LicensingError;
use pdx_licensing::exchange::{DataRequest, Prepared};
use pdx_licensing::model::{Grant, GrantState};
use pdx_licensing::service::{OfferInput, RequestInput, Tightening};

use super::{City, DEMO_PASSWORD, File, Past, Rng, demo_principal, loader_context};
use crate::error::ServerError;

/// Days of history before the day of the load.
const HISTORY_DAYS: i64 = 92;

/// Shenzhen's offset from UTC: days and working hours are the city's.
const LOCAL_OFFSET_HOURS: i64 = 8;

/// The enterprise whose registration awaits a platform admin: the story's last step, so a
/// load that got this far is complete.
pub(crate) const PENDING_ENTERPRISE: &str = "futian-smart-logistics";

/// An enterprise that registers itself during the story.
pub(crate) struct Registration {
    /// Its slug.
    pub slug: &'static str,
    /// Chinese name.
    pub zh: &'static str,
    /// English name.
    pub en: &'static str,
    /// Its first user (the enterprise's admin).
    pub email: &'static str,
    /// Unified social credit code.
    pub credit_code: &'static str,
    /// The day and local time a platform admin verifies it; never for the pending one.
    pub verified_on: Option<(i64, u32, u32)>,
}

/// The enterprises that register themselves: one verified early on, one still pending.
pub(crate) const REGISTRATIONS: &[Registration] = &[
    Registration {
        slug: "bay-robotics",
        zh: "深圳湾机器人科技有限公司",
        en: "Shenzhen Bay Robotics Co., Ltd.",
        email: "admin@bay-robotics.demo.pdx",
        credit_code: "91440300MA5F00012E",
        verified_on: Some((16, 11, 3)),
    },
    Registration {
        slug: PENDING_ENTERPRISE,
        zh: "福田智慧物流有限公司",
        en: "Futian Smart Logistics Co., Ltd.",
        email: "admin@futian-smart-logistics.demo.pdx",
        credit_code: "91440300MA5F00023J",
        verified_on: None,
    },
];

/// The development-use licence most offers are made under.
const DEV_USE: &str = "sz-dev-use-1.0";
/// The research and public-interest licence of the sensitive datasets.
const RESEARCH: &str = "sz-research-1.0";

/// When data is requested during a day: local hour and share of the day's requests.
const SLOTS: [(u32, f64); 10] = [
    (8, 0.06),
    (9, 0.12),
    (10, 0.14),
    (11, 0.12),
    (14, 0.12),
    (15, 0.13),
    (16, 0.12),
    (17, 0.08),
    (20, 0.07),
    (23, 0.04),
];

/// Whether a dataset of this classification is obtained through requests by someone (an
/// enterprise under its opening class, another agency under its sharing class), and so needs
/// an offer.
pub(crate) fn requestable_by_someone(c: Classification) -> bool {
    c.opening == OpeningClass::Conditional || c.sharing == SharingClass::Conditional
}

/// Local midnight starting the story's first day, [`HISTORY_DAYS`] before the day of `until`.
fn first_midnight(until: Timestamp) -> Timestamp {
    let offset = Duration::hours(LOCAL_OFFSET_HOURS);
    let today = (until + offset).date_naive();
    (today - Duration::days(HISTORY_DAYS))
        .and_time(NaiveTime::MIN)
        .and_utc()
        - offset
}

/// When the story starts: nine in the morning of its first day.
pub(crate) fn start_of(until: Timestamp) -> Timestamp {
    first_midnight(until) + Duration::hours(9)
}

/// A stream of data requests: who asks for which files, for what, how often and when.
struct Stream {
    who: Option<Principal>,
    files: Vec<File>,
    purpose: Option<&'static str>,
    per_day: f64,
    from: Timestamp,
    to: Timestamp,
}

/// What the story told.
pub(crate) struct Told {
    /// Data requests decided and ledgered.
    pub data_requests: u64,
    /// Days of circulation.
    pub days: i64,
}

struct Story<'a> {
    past: &'a Past,
    city: &'a City,
    rng: &'a mut Rng,
    midnight: Timestamp,
    until: Timestamp,
    streams: Vec<Stream>,
    /// The next slot of traffic to run: day and index into [`SLOTS`].
    next_slot: (i64, usize),
    data_requests: u64,
}

/// Plays the story from the end of the catalog's setup to `until`.
pub(crate) async fn play(
    past: &Past,
    city: &City,
    rng: &mut Rng,
    until: Timestamp,
) -> Result<Told, ServerError> {
    let mut story = Story {
        past,
        city,
        rng,
        midnight: first_midnight(until),
        until,
        streams: Vec::new(),
        next_slot: (1, 0),
        data_requests: 0,
    };
    story.licences().await?;
    story.offers().await?;
    story.everyday_streams()?;
    story.requests_and_grants().await?;
    story.run_until(until).await?;
    // Anything whose term ran out at the very end is recorded at the story's time too.
    past.licensing
        .record_expiries()
        .await
        .map_err(licensing("record expiries"))?;
    for pending in REGISTRATIONS.iter().filter(|r| r.verified_on.is_none()) {
        story.register(pending).await?;
    }
    Ok(Told {
        data_requests: story.data_requests,
        days: HISTORY_DAYS,
    })
}

fn licensing(what: &'static str) -> impl Fn(LicensingError) -> ServerError {
    move |e| ServerError::Demo(format!("{what}: {e}"))
}

impl Story<'_> {
    /// The instant of a local time on a day of the story.
    fn at(&self, day: i64, hour: u32, minute: u32) -> Timestamp {
        self.midnight
            + Duration::days(day)
            + Duration::hours(i64::from(hour))
            + Duration::minutes(i64::from(minute))
    }

    fn principal(&self, org: &str, name: &str) -> Result<Principal, ServerError> {
        self.city.principal(org, name).cloned()
    }

    fn files(&self, slugs: &[&str]) -> Result<Vec<File>, ServerError> {
        let mut files = Vec::new();
        for slug in slugs {
            files.extend(self.city.files(slug)?.iter().cloned());
        }
        Ok(files)
    }

    /// Moves the story to `to`: every slot of data requests before it is run first, then the
    /// clock is set to it. The story is written in order; going back would date events wrongly.
    async fn run_until(&mut self, to: Timestamp) -> Result<(), ServerError> {
        let now = self.past.clock.now();
        if to < now {
            return Err(ServerError::Demo(format!(
                "the story goes back from {now} to {to}"
            )));
        }
        loop {
            let (day, index) = self.next_slot;
            let Some(&(hour, share)) = SLOTS.get(index) else {
                self.next_slot = (day + 1, 0);
                continue;
            };
            // A few minutes into the hour, differently each slot but the same each time this
            // slot is looked at, so a slot found to lie after `to` keeps its time for later.
            let slot = u64::try_from(day).unwrap_or(0) * SLOTS.len() as u64 + index as u64;
            let minute = u32::try_from(Rng(slot).below(50)).unwrap_or(0);
            // Never before an event already told.
            let time = self.at(day, hour, minute).max(now);
            if time >= to || time >= self.until {
                break;
            }
            self.next_slot = (day, index + 1);
            self.slot(day, time, share).await?;
        }
        self.past.clock.set(to);
        Ok(())
    }

    /// One slot's data requests, submitted together so the appender decides them in one batch
    /// at the slot's time, as it would a burst of real ones.
    async fn slot(&mut self, day: i64, time: Timestamp, share: f64) -> Result<(), ServerError> {
        self.past.clock.set(time);
        let local = time + Duration::hours(LOCAL_OFFSET_HOURS);
        let weekday = match local.weekday() {
            Weekday::Sat => 0.55,
            Weekday::Sun => 0.45,
            _ => 1.0,
        };
        // Use grows as the portal becomes known.
        let growth = 0.75 + 0.5 * day as f64 / HISTORY_DAYS as f64;
        let mut requests = Vec::new();
        for stream in &self.streams {
            if time < stream.from || time >= stream.to || stream.files.is_empty() {
                continue;
            }
            let expected = stream.per_day * share * weekday * growth;
            let count = (expected + self.rng.unit()).floor() as u64;
            for _ in 0..count {
                // The first files of a stream are the popular ones.
                let pick = (self.rng.unit().powi(2) * stream.files.len() as f64) as usize;
                let Some(file) = stream
                    .files
                    .get(pick.min(stream.files.len().saturating_sub(1)))
                else {
                    continue;
                };
                self.data_requests += 1;
                requests.push(DataRequest {
                    principal: stream.who.clone(),
                    distribution: file.id,
                    purpose: stream.purpose.map(str::to_owned),
                    request_id: Some(format!("demo-{:06}", self.data_requests)),
                    idempotency_key: None,
                    range: None,
                    prepared: Prepared::File {
                        key: file.key.clone(),
                        size: file.size,
                    },
                    refused: None,
                });
            }
        }
        let service = &self.past.licensing;
        let answers =
            futures_util::future::join_all(requests.into_iter().map(|r| service.obtain(r))).await;
        for answer in answers {
            answer.map_err(licensing("a data request"))?;
        }
        Ok(())
    }

    /// The platform admin's two licences, each with its ODRL policy.
    async fn licences(&mut self) -> Result<(), ServerError> {
        let admin = self.principal("platform", "platform-admin")?;
        let at = self.at(0, 17, 30);
        self.run_until(at).await?;
        let licences = [
            (
                DEV_USE,
                "深圳市公共数据开发利用协议 1.0 Shenzhen public data development-use agreement 1.0",
                serde_json::json!({
                    "permissions": [{
                        "action": "use",
                        "constraint": { "and": [
                            { "leftOperand": "purpose", "operator": "isAnyOf",
                              "rightOperand": ["product_development", "research", "public_service", "education", "statistics"] },
                            { "leftOperand": "elapsedTime", "operator": "lteq", "rightOperand": "P365D" }
                        ] }
                    }],
                    "prohibitions": [{
                        "action": "use",
                        "constraint": { "leftOperand": "purpose", "operator": "eq", "rightOperand": "journalism" }
                    }]
                }),
            ),
            (
                RESEARCH,
                "深圳市公共数据科研与公益使用协议 1.0 Shenzhen public data research and public-interest agreement 1.0",
                serde_json::json!({
                    "permissions": [{
                        "action": "use",
                        "constraint": { "leftOperand": "purpose", "operator": "isAnyOf",
                                        "rightOperand": ["research", "public_service", "statistics", "education"] }
                    }],
                    "prohibitions": [{
                        "action": "use",
                        "constraint": { "leftOperand": "purpose", "operator": "eq", "rightOperand": "product_development" }
                    }]
                }),
            ),
        ];
        for (id, title, policy) in licences {
            self.past
                .licensing
                .create_licence(
                    &admin,
                    id,
                    title,
                    &format!("https://data.demo.pdx/licences/{id}"),
                    policy,
                    &loader_context(),
                )
                .await
                .map_err(licensing("create a licence"))?;
            self.past.clock.advance(Duration::minutes(7));
        }
        Ok(())
    }

    /// Every dataset obtained through requests gets an offer from its agency's admin on the
    /// first morning: licence, purposes, term, quotas and fees.
    async fn offers(&mut self) -> Result<(), ServerError> {
        let at = self.at(1, 9, 0);
        self.run_until(at).await?;
        for (slug, agency, classification) in &self.city.conditional {
            let admin = self.principal(agency, "admin")?;
            let purposes = |list: &[&str]| list.iter().map(|p| (*p).to_owned()).collect();
            let offer = if slug.starts_with("traffic-flow-") {
                OfferInput {
                    licence_id: DEV_USE.into(),
                    purposes: purposes(&[
                        "product_development",
                        "research",
                        "public_service",
                        "statistics",
                    ]),
                    max_term_days: 365,
                    max_requests: Some(2_000),
                    max_bytes: Some(200_000_000),
                    max_rows: None,
                    fee_per_request: 50,
                    fee_per_mb: 20,
                    column_rules: None,
                }
            } else if slug.starts_with("5g-base-stations-") {
                OfferInput {
                    licence_id: DEV_USE.into(),
                    purposes: purposes(&["product_development", "research"]),
                    max_term_days: 365,
                    max_requests: Some(1_000),
                    max_bytes: Some(100_000_000),
                    max_rows: None,
                    fee_per_request: 100,
                    fee_per_mb: 50,
                    column_rules: None,
                }
            } else if slug == "taxi-trips-2024" || slug == "gov-service-cases" {
                OfferInput {
                    licence_id: DEV_USE.into(),
                    purposes: purposes(&[
                        "product_development",
                        "research",
                        "statistics",
                        "public_service",
                    ]),
                    max_term_days: 180,
                    max_requests: Some(500),
                    max_bytes: Some(100_000_000),
                    max_rows: None,
                    fee_per_request: 200,
                    fee_per_mb: 100,
                    column_rules: None,
                }
            } else if classification.opening == OpeningClass::Closed
                || classification.sharing == SharingClass::Conditional
            {
                // Sensitive data: research and public interest only, and free of charge.
                OfferInput {
                    licence_id: RESEARCH.into(),
                    purposes: purposes(&["research", "public_service", "statistics"]),
                    max_term_days: 365,
                    max_requests: Some(300),
                    max_bytes: Some(50_000_000),
                    max_rows: None,
                    fee_per_request: 0,
                    fee_per_mb: 0,
                    column_rules: None,
                }
            } else {
                OfferInput {
                    licence_id: DEV_USE.into(),
                    purposes: purposes(&["product_development", "research", "education"]),
                    max_term_days: 365,
                    max_requests: Some(1_000),
                    max_bytes: None,
                    max_rows: None,
                    fee_per_request: 100,
                    fee_per_mb: 50,
                    column_rules: None,
                }
            };
            self.past
                .licensing
                .put_offer(&admin, slug, offer, &loader_context())
                .await
                .map_err(licensing("set an offer"))?;
            self.past.clock.advance(Duration::minutes(4));
        }
        Ok(())
    }

    /// The requests that go on all along: the public's downloads of open data, members of
    /// agencies and enterprises taking open data, an agency using its own data, and anonymous
    /// callers knocking on conditional data.
    fn everyday_streams(&mut self) -> Result<(), ServerError> {
        let (from, to) = (self.at(1, 0, 0), self.until);
        let open: Vec<&str> = self.city.open.iter().map(String::as_str).collect();
        let conditional: Vec<&str> = self
            .city
            .conditional
            .iter()
            .map(|(slug, _, _)| slug.as_str())
            .collect();
        let streams = [
            (None, open.clone(), None, 24.0),
            (None, conditional, Some("research"), 0.6),
            (
                Some(self.principal("pengcheng-mobility", "member")?),
                vec![
                    "bus-stops",
                    "bus-routes",
                    "parking-occupancy",
                    "ev-charging-piles",
                ],
                Some("product_development"),
                2.0,
            ),
            (
                Some(self.principal("qianhai-analytics", "member")?),
                vec![
                    "air-quality-nanshan",
                    "air-quality-futian",
                    "population-by-district",
                    "gdp-quarterly",
                ],
                Some("research"),
                1.5,
            ),
            (
                Some(self.principal("sz-transport", "publisher")?),
                vec!["traffic-flow-futian", "traffic-flow-nanshan"],
                None,
                0.3,
            ),
        ];
        for (who, slugs, purpose, per_day) in streams {
            let files = self.files(&slugs)?;
            self.streams.push(Stream {
                who,
                files,
                purpose,
                per_day,
                from,
                to,
            });
        }
        Ok(())
    }

    /// Adds the requests someone makes of some datasets from `from` to `to` (the end when none).
    fn stream(
        &mut self,
        who: &Principal,
        slugs: &[&str],
        purpose: Option<&'static str>,
        per_day: f64,
        from: Timestamp,
        to: Option<Timestamp>,
    ) -> Result<(), ServerError> {
        let files = self.files(slugs)?;
        self.streams.push(Stream {
            who: Some(who.clone()),
            files,
            purpose,
            per_day,
            from,
            to: to.unwrap_or(self.until),
        });
        Ok(())
    }

    async fn submit(
        &mut self,
        when: (i64, u32, u32),
        who: &Principal,
        dataset: &str,
        purpose: &str,
        term_days: i32,
        statement: &str,
    ) -> Result<AccessRequestId, ServerError> {
        let at = self.at(when.0, when.1, when.2);
        self.run_until(at).await?;
        let request = self
            .past
            .licensing
            .submit_request(
                who,
                RequestInput {
                    dataset: dataset.to_owned(),
                    purpose: purpose.to_owned(),
                    statement: statement.to_owned(),
                    term_days,
                    distributions: Vec::new(),
                },
                &loader_context(),
            )
            .await
            .map_err(licensing("submit a request"))?;
        Ok(request.id)
    }

    /// An automatic grant between agencies: the request is approved as it is submitted.
    async fn share(
        &mut self,
        when: (i64, u32, u32),
        who: &Principal,
        dataset: &str,
        purpose: &str,
        statement: &str,
    ) -> Result<Timestamp, ServerError> {
        self.submit(when, who, dataset, purpose, 180, statement)
            .await?;
        Ok(self.past.clock.now())
    }

    async fn approve(
        &mut self,
        when: (i64, u32, u32),
        reviewer: &Principal,
        request: AccessRequestId,
        tightening: Tightening,
    ) -> Result<Grant, ServerError> {
        let at = self.at(when.0, when.1, when.2);
        self.run_until(at).await?;
        let (_, grant) = self
            .past
            .licensing
            .approve(reviewer, request, tightening, &loader_context())
            .await
            .map_err(licensing("approve a request"))?;
        Ok(grant)
    }

    /// Requests, reviews and grants, with the data requests they lead to.
    async fn requests_and_grants(&mut self) -> Result<(), ServerError> {
        let statistics = self.principal("sz-statistics", "admin")?;
        let health = self.principal("sz-health", "admin")?;
        let environment = self.principal("sz-environment", "admin")?;
        let environment_reviewer = self.principal("sz-environment", "reviewer")?;
        let transport_reviewer = self.principal("sz-transport", "reviewer")?;
        let miit_reviewer = self.principal("sz-miit", "reviewer")?;
        let health_reviewer = self.principal("sz-health", "reviewer")?;
        let pengcheng = self.principal("pengcheng-mobility", "member")?;
        let qianhai = self.principal("qianhai-analytics", "member")?;

        // Between agencies, unconditionally shared data is granted as it is asked for.
        let granted = self
            .share(
                (1, 10, 20),
                &statistics,
                "traffic-flow-futian",
                "statistics",
                "季度交通运行统计公报。Quarterly transport statistics bulletin.",
            )
            .await?;
        self.stream(
            &statistics,
            &["traffic-flow-futian"],
            Some("statistics"),
            1.2,
            granted,
            None,
        )?;
        let granted = self
            .share(
                (1, 10, 35),
                &statistics,
                "gov-service-cases",
                "statistics",
                "政务服务效能月度统计。Monthly statistics of government service performance.",
            )
            .await?;
        self.stream(
            &statistics,
            &["gov-service-cases"],
            Some("statistics"),
            0.8,
            granted,
            None,
        )?;

        // An enterprise's grant in steady use, with the odd request for the wrong purpose or
        // none at all.
        let request = self
            .submit(
                (2, 9, 40),
                &pengcheng,
                "traffic-flow-futian",
                "product_development",
                365,
                "用于出行App的实时路况预测模型训练。Training the congestion forecast of our journey-planning app.",
            )
            .await?;
        let grant = self
            .approve(
                (2, 15, 10),
                &transport_reviewer,
                request,
                Tightening::default(),
            )
            .await?;
        let from = grant.valid_from;
        self.stream(
            &pengcheng,
            &["traffic-flow-futian"],
            Some("product_development"),
            3.0,
            from,
            None,
        )?;
        self.stream(
            &pengcheng,
            &["traffic-flow-futian"],
            Some("research"),
            0.15,
            from,
            None,
        )?;
        self.stream(&pengcheng, &["traffic-flow-futian"], None, 0.1, from, None)?;

        // A grant approved with a tighter request quota, which its user's daily job runs
        // through: after that, quota denials.
        let request = self
            .submit(
                (3, 11, 5),
                &qianhai,
                "5g-base-stations-nanshan",
                "research",
                180,
                "5G覆盖与中小企业数字化转型关系研究。Research on 5G coverage and the digitalisation of small firms.",
            )
            .await?;
        let grant = self
            .approve(
                (4, 10, 30),
                &miit_reviewer,
                request,
                Tightening {
                    max_requests: Some(150),
                    ..Tightening::default()
                },
            )
            .await?;
        self.stream(
            &qianhai,
            &["5g-base-stations-nanshan"],
            Some("research"),
            3.0,
            grant.valid_from,
            None,
        )?;

        // A grant whose term the reviewer shortens to sixty days: it expires, and its user's
        // job is refused for a few days before it is switched off.
        let request = self
            .submit(
                (5, 14, 0),
                &pengcheng,
                "taxi-trips-2024",
                "product_development",
                90,
                "出租车需求热力图产品试点。Pilot of a taxi-demand heat map for fleet operators.",
            )
            .await?;
        let expiring = self
            .approve(
                (6, 16, 45),
                &transport_reviewer,
                request,
                Tightening {
                    term_days: Some(60),
                    ..Tightening::default()
                },
            )
            .await?;
        self.stream(
            &pengcheng,
            &["taxi-trips-2024"],
            Some("product_development"),
            2.0,
            expiring.valid_from,
            Some(expiring.valid_until + Duration::days(6)),
        )?;

        // Sharing between agencies under review, for important data.
        let request = self
            .submit(
                (8, 9, 15),
                &health,
                "pollution-sources",
                "public_service",
                365,
                "排污单位周边居民健康风险评估。Health-risk assessment for residents near pollution sources.",
            )
            .await?;
        let grant = self
            .approve(
                (8, 15, 30),
                &environment_reviewer,
                request,
                Tightening::default(),
            )
            .await?;
        self.stream(
            &health,
            &["pollution-sources"],
            Some("public_service"),
            0.7,
            grant.valid_from,
            None,
        )?;

        // A grant the owning agency later suspends.
        let request = self
            .submit(
                (11, 10, 0),
                &qianhai,
                "pollution-sources",
                "research",
                365,
                "工业排放与空气质量关联分析（学术合作）。Academic study linking industrial emissions to air quality.",
            )
            .await?;
        let suspended = self
            .approve(
                (12, 11, 20),
                &environment_reviewer,
                request,
                Tightening::default(),
            )
            .await?;
        let suspended_on = self.at(75, 10, 30);
        self.stream(
            &qianhai,
            &["pollution-sources"],
            Some("research"),
            1.2,
            suspended.valid_from,
            Some(suspended_on + Duration::days(5)),
        )?;

        // An enterprise registers itself, is verified, and obtains a grant.
        let Some(verified) = REGISTRATIONS.iter().find(|r| r.verified_on.is_some()) else {
            return Err(ServerError::Demo("no enterprise registers itself".into()));
        };
        let robotics = self.register(verified).await?;
        // Its developers try the data as soon as they have asked for it.
        self.stream(
            &robotics,
            &["traffic-flow-longgang"],
            Some("product_development"),
            3.0,
            self.at(17, 10, 0),
            Some(self.at(18, 10, 40)),
        )?;
        let request = self
            .submit(
                (17, 9, 50),
                &robotics,
                "traffic-flow-longgang",
                "product_development",
                365,
                "配送机器人路径规划。Route planning for our delivery robots.",
            )
            .await?;
        let grant = self
            .approve(
                (18, 10, 40),
                &transport_reviewer,
                request,
                Tightening::default(),
            )
            .await?;
        self.stream(
            &robotics,
            &["traffic-flow-longgang"],
            Some("product_development"),
            2.0,
            grant.valid_from,
            None,
        )?;

        // A rejected request; its requester tries the data for a few days all the same.
        let request = self
            .submit(
                (20, 14, 30),
                &pengcheng,
                "5g-base-stations-futian",
                "product_development",
                180,
                "出行App功能优化。Improving our app.",
            )
            .await?;
        let at = self.at(21, 10, 5);
        self.run_until(at).await?;
        self.past
            .licensing
            .reject(
                &miit_reviewer,
                request,
                "用途说明不足：请说明基站数据在出行产品中的具体用途。The statement does not say what the product needs base-station data for; please describe it and apply again.",
                &loader_context(),
            )
            .await
            .map_err(licensing("reject a request"))?;
        self.stream(
            &pengcheng,
            &["5g-base-stations-futian"],
            Some("product_development"),
            1.0,
            self.at(20, 15, 0),
            Some(self.at(25, 0, 0)),
        )?;

        // Sensitive data shared with another agency after review.
        let request = self
            .submit(
                (25, 9, 30),
                &environment,
                "infectious-disease-weekly",
                "public_service",
                180,
                "环境因素与传染病发病关联监测。Monitoring links between environmental factors and notified diseases.",
            )
            .await?;
        let grant = self
            .approve(
                (26, 16, 0),
                &health_reviewer,
                request,
                Tightening::default(),
            )
            .await?;
        self.stream(
            &environment,
            &["infectious-disease-weekly"],
            Some("public_service"),
            0.5,
            grant.valid_from,
            None,
        )?;

        // A request its requester withdraws; they had tried the data before asking.
        self.stream(
            &qianhai,
            &["traffic-flow-nanshan"],
            Some("research"),
            1.0,
            self.at(26, 0, 0),
            Some(self.at(33, 0, 0)),
        )?;
        let request = self
            .submit(
                (30, 11, 0),
                &qianhai,
                "traffic-flow-nanshan",
                "research",
                90,
                "南山区通勤模式研究。A study of commuting patterns in Nanshan.",
            )
            .await?;
        let at = self.at(32, 9, 20);
        self.run_until(at).await?;
        self.past
            .licensing
            .withdraw(&qianhai, request, &loader_context())
            .await
            .map_err(licensing("withdraw a request"))?;

        // The sixty-day grant expires; the expiry is recorded a few seconds later, as the
        // server's recorder would.
        self.run_until(expiring.valid_until + Duration::seconds(5))
            .await?;
        self.past
            .licensing
            .record_expiries()
            .await
            .map_err(licensing("record expiries"))?;

        self.run_until(suspended_on).await?;
        let environment_admin = self.principal("sz-environment", "admin")?;
        self.past
            .licensing
            .change_grant(
                &environment_admin,
                suspended.id,
                GrantState::Suspended,
                Some("核查中：被许可方发布的报告含未汇总的排污单位数据。Under review: a report the licensee published shows facility-level data.".into()),
                &loader_context(),
            )
            .await
            .map_err(licensing("suspend a grant"))?;

        // Requests still awaiting review when the demo starts.
        self.submit(
            (88, 10, 0),
            &pengcheng,
            "5g-base-stations-baoan",
            "product_development",
            180,
            "为宝安区网约车司机提供信号覆盖导航。Coverage-aware navigation for ride-hailing drivers in Bao'an.",
        )
        .await?;
        self.submit(
            (90, 15, 20),
            &qianhai,
            "gov-service-cases",
            "research",
            90,
            "政务服务数字化水平评估。Assessing how far government services have gone online.",
        )
        .await?;
        Ok(())
    }

    /// An enterprise is registered (with the demo password, its address vouched for by the
    /// loader as an operator would) and, for the verified one, a platform admin verifies it;
    /// returns its admin's principal.
    async fn register(&mut self, registration: &Registration) -> Result<Principal, ServerError> {
        // The verified one registered the day before it was verified; the pending one registers
        // at the story's current time, its end.
        if let Some((day, hour, minute)) = registration.verified_on {
            let at = self.at(day - 1, hour, minute);
            self.run_until(at).await?;
        }
        let (organization, user) = self
            .past
            .access
            .register_enterprise_as_operator(
                EnterpriseRegistration {
                    email: registration.email.to_owned(),
                    display_name: format!("Demo admin {}", registration.en),
                    organization_name: format!("{} {}", registration.zh, registration.en),
                    slug: Some(registration.slug.to_owned()),
                    credit_code: registration.credit_code.to_owned(),
                    contact_email: None,
                    contact_phone: None,
                },
                DEMO_PASSWORD,
                &loader_context(),
            )
            .await?;
        if let Some((day, hour, minute)) = registration.verified_on {
            let at = self.at(day, hour, minute);
            self.run_until(at).await?;
            let admin = self.principal("platform", "platform-admin")?;
            self.past
                .access
                .set_verified(&admin, organization.id, true, &loader_context())
                .await?;
        }
        Ok(demo_principal(
            user.id,
            organization.id,
            OrgKind::Enterprise,
            Role::Admin,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Timelike, Utc};

    #[test]
    fn slot_shares_make_one_day_of_requests() {
        let total: f64 = SLOTS.iter().map(|(_, share)| share).sum();
        assert!((total - 1.0).abs() < 1e-9, "{total}");
        assert!(SLOTS.windows(2).all(|w| w[0].0 < w[1].0), "slots in order");
    }

    #[test]
    fn the_story_starts_at_nine_in_the_morning_shenzhen_time_three_months_back() {
        // 02:00 in Shenzhen on 1 December: the story's first day is 92 days earlier.
        let until = Utc.with_ymd_and_hms(2026, 11, 30, 18, 0, 0).unwrap();
        let start = start_of(until);
        let local = start + Duration::hours(LOCAL_OFFSET_HOURS);
        assert_eq!(local.hour(), 9);
        assert_eq!(local.date_naive().to_string(), "2026-08-31");
        // Everything dated on day 91 or before lies before `until`.
        assert!(first_midnight(until) + Duration::days(92) <= until);
    }

    #[test]
    fn registrations_have_valid_credit_codes_and_one_is_pending() {
        for registration in REGISTRATIONS {
            assert!(
                pdx_access::model::CreditCode::parse(registration.credit_code).is_ok(),
                "{}",
                registration.slug
            );
        }
        let pending: Vec<&str> = REGISTRATIONS
            .iter()
            .filter(|r| r.verified_on.is_none())
            .map(|r| r.slug)
            .collect();
        assert_eq!(pending, vec![PENDING_ENTERPRISE]);
    }
}
