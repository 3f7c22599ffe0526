//! DCAT-AP 3 output of the catalog: the catalog (paged with Hydra) and single datasets as an
//! RDF graph built with `oxrdf`, serialised as Turtle, RDF/XML or JSON-LD by the oxigraph
//! serialisers — never by string templates.

use oxrdf::vocab::{rdf, xsd};
use oxrdf::{BlankNode, Literal, NamedNode, NamedOrBlankNode, Term, Triple};
use pdx_core::{OpeningClass, Timestamp};

use crate::model::{Distribution, DistributionKind, Licence};
use crate::service::DatasetView;
use crate::vocabulary::{frequency_uri, language_uri, theme};

const DCAT: &str = "http://www.w3.org/ns/dcat#";
const DCT: &str = "http://purl.org/dc/terms/";
const FOAF: &str = "http://xmlns.com/foaf/0.1/";
const VCARD: &str = "http://www.w3.org/2006/vcard/ns#";
const SKOS: &str = "http://www.w3.org/2004/02/skos/core#";
const HYDRA: &str = "http://www.w3.org/ns/hydra/core#";
const SPDX: &str = "http://spdx.org/rdf/terms#";
const PDX: &str = "https://pdx.dev/ns#";
const EU: &str = "http://publications.europa.eu/resource/authority/";

/// The prefixes used in every serialisation.
const PREFIXES: &[(&str, &str)] = &[
    ("dcat", DCAT),
    ("dct", DCT),
    ("foaf", FOAF),
    ("vcard", VCARD),
    ("skos", SKOS),
    ("hydra", HYDRA),
    ("spdx", SPDX),
    ("xsd", "http://www.w3.org/2001/XMLSchema#"),
    ("pdx", PDX),
];

/// An RDF serialisation format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RdfFormat {
    /// Turtle, `text/turtle`.
    Turtle,
    /// RDF/XML, `application/rdf+xml`.
    RdfXml,
    /// JSON-LD, `application/ld+json`.
    JsonLd,
}

impl RdfFormat {
    /// The format for a file extension: `ttl`, `rdf` or `jsonld`.
    pub fn from_extension(extension: &str) -> Option<Self> {
        match extension {
            "ttl" => Some(Self::Turtle),
            "rdf" => Some(Self::RdfXml),
            "jsonld" => Some(Self::JsonLd),
            _ => None,
        }
    }

    /// The media type.
    pub fn media_type(self) -> &'static str {
        match self {
            Self::Turtle => "text/turtle; charset=utf-8",
            Self::RdfXml => "application/rdf+xml",
            Self::JsonLd => "application/ld+json",
        }
    }

    /// The file extension.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Turtle => "ttl",
            Self::RdfXml => "rdf",
            Self::JsonLd => "jsonld",
        }
    }
}

fn iri(base: &str, local: &str) -> NamedNode {
    NamedNode::new_unchecked(format!("{base}{local}"))
}

/// A graph under construction.
struct Graph {
    triples: Vec<Triple>,
    blank: usize,
}

impl Graph {
    fn new() -> Self {
        Self {
            triples: Vec::new(),
            blank: 0,
        }
    }

    fn add(
        &mut self,
        subject: impl Into<NamedOrBlankNode>,
        predicate: NamedNode,
        object: impl Into<Term>,
    ) {
        self.triples.push(Triple::new(subject, predicate, object));
    }

    fn typed(&mut self, subject: impl Into<NamedOrBlankNode> + Clone, class: NamedNode) {
        self.add(subject, rdf::TYPE.into_owned(), class);
    }

    fn bnode(&mut self) -> BlankNode {
        self.blank += 1;
        BlankNode::new_unchecked(format!("b{}", self.blank))
    }

    fn text(
        &mut self,
        subject: impl Into<NamedOrBlankNode>,
        predicate: NamedNode,
        value: &str,
        language: &str,
    ) {
        let literal = Literal::new_language_tagged_literal(value, language)
            .unwrap_or_else(|_| Literal::new_simple_literal(value));
        self.add(subject, predicate, literal);
    }

    fn date_time(
        &mut self,
        subject: impl Into<NamedOrBlankNode>,
        predicate: NamedNode,
        time: Timestamp,
    ) {
        let value = time.format("%Y-%m-%dT%H:%M:%SZ").to_string();
        self.add(
            subject,
            predicate,
            Literal::new_typed_literal(value, xsd::DATE_TIME),
        );
    }

    fn serialize(self, format: RdfFormat) -> std::io::Result<Vec<u8>> {
        match format {
            RdfFormat::Turtle => {
                let mut serializer = oxttl::TurtleSerializer::new();
                for (prefix, namespace) in PREFIXES {
                    serializer = serializer
                        .with_prefix(*prefix, *namespace)
                        .map_err(std::io::Error::other)?;
                }
                let mut writer = serializer.for_writer(Vec::new());
                for triple in &self.triples {
                    writer.serialize_triple(triple)?;
                }
                writer.finish()
            }
            RdfFormat::RdfXml => {
                let mut serializer = oxrdfxml::RdfXmlSerializer::new();
                for (prefix, namespace) in PREFIXES {
                    serializer = serializer
                        .with_prefix(*prefix, *namespace)
                        .map_err(std::io::Error::other)?;
                }
                let mut writer = serializer.for_writer(Vec::new());
                for triple in &self.triples {
                    writer.serialize_triple(triple)?;
                }
                writer.finish()
            }
            RdfFormat::JsonLd => {
                let mut serializer = oxjsonld::JsonLdSerializer::new();
                for (prefix, namespace) in PREFIXES {
                    serializer = serializer
                        .with_prefix(*prefix, *namespace)
                        .map_err(std::io::Error::other)?;
                }
                let mut writer = serializer.for_writer(Vec::new());
                for triple in &self.triples {
                    writer.serialize_quad(
                        triple
                            .clone()
                            .in_graph(oxrdf::GraphName::DefaultGraph)
                            .as_ref(),
                    )?;
                }
                writer.finish()
            }
        }
    }
}

/// The paging of a catalog page.
#[derive(Debug, Clone)]
pub struct CatalogPage {
    /// This page, from 1.
    pub page: u32,
    /// Datasets per page.
    pub per_page: u32,
    /// Datasets matching in all.
    pub total: i64,
    /// The query string other than `page`, kept in the Hydra links.
    pub query: String,
}

/// Describes the catalog, one page of its datasets and the Hydra paging links.
pub fn catalog(
    base: &str,
    views: &[DatasetView],
    licences: &[Licence],
    paging: &CatalogPage,
    format: RdfFormat,
) -> std::io::Result<Vec<u8>> {
    let mut g = Graph::new();
    let catalog = iri(base, "/catalog");
    g.typed(catalog.clone(), iri(DCAT, "Catalog"));
    g.text(
        catalog.clone(),
        iri(DCT, "title"),
        "PDX — Public Data Exchange",
        "en",
    );
    g.text(catalog.clone(), iri(DCT, "title"), "公共数据交换平台", "zh");
    g.text(
        catalog.clone(),
        iri(DCT, "description"),
        "Public data published by government agencies, with sharing and opening classification and a verifiable circulation ledger.",
        "en",
    );
    g.text(
        catalog.clone(),
        iri(DCT, "description"),
        "政府部门发布的公共数据目录，含共享开放分类与可验证的流通账本。",
        "zh",
    );
    let operator = iri(base, "/organizations/platform");
    g.add(catalog.clone(), iri(DCT, "publisher"), operator.clone());
    g.typed(operator.clone(), iri(FOAF, "Agent"));
    g.text(operator, iri(FOAF, "name"), "PDX platform", "en");
    g.add(catalog.clone(), iri(FOAF, "homepage"), iri(base, "/"));
    g.typed(iri(base, "/"), iri(FOAF, "Document"));
    for view in views {
        g.add(
            catalog.clone(),
            iri(DCAT, "dataset"),
            iri(base, &format!("/dataset/{}", view.dataset.id)),
        );
        describe_dataset(&mut g, base, view, licences);
    }

    let last = u32::try_from(
        (paging.total.max(1) + i64::from(paging.per_page) - 1) / i64::from(paging.per_page),
    )
    .unwrap_or(1);
    let page_url = |page: u32| {
        let separator = if paging.query.is_empty() { "" } else { "&" };
        iri(
            base,
            &format!(
                "/catalog.{}?{}{separator}page={page}",
                format.extension(),
                paging.query
            ),
        )
    };
    let view = page_url(paging.page);
    g.add(catalog.clone(), iri(HYDRA, "view"), view.clone());
    g.add(
        catalog,
        iri(HYDRA, "totalItems"),
        Literal::new_typed_literal(paging.total.to_string(), xsd::INTEGER),
    );
    g.typed(view.clone(), iri(HYDRA, "PartialCollectionView"));
    g.add(view.clone(), iri(HYDRA, "first"), page_url(1));
    g.add(view.clone(), iri(HYDRA, "last"), page_url(last));
    if paging.page > 1 {
        g.add(
            view.clone(),
            iri(HYDRA, "previous"),
            page_url(paging.page - 1),
        );
    }
    if paging.page < last {
        g.add(view, iri(HYDRA, "next"), page_url(paging.page + 1));
    }
    g.serialize(format)
}

/// Describes one dataset and its distributions.
pub fn dataset(
    base: &str,
    view: &DatasetView,
    licences: &[Licence],
    format: RdfFormat,
) -> std::io::Result<Vec<u8>> {
    let mut g = Graph::new();
    describe_dataset(&mut g, base, view, licences);
    g.serialize(format)
}

fn describe_dataset(g: &mut Graph, base: &str, view: &DatasetView, licences: &[Licence]) {
    let d = &view.dataset;
    let language = d.languages.first().map_or("zh", String::as_str);
    let node = iri(base, &format!("/dataset/{}", d.id));
    g.typed(node.clone(), iri(DCAT, "Dataset"));
    g.text(node.clone(), iri(DCT, "title"), &d.title, language);
    g.text(
        node.clone(),
        iri(DCT, "description"),
        &d.description,
        language,
    );
    for (other, translation) in &d.translations {
        g.text(node.clone(), iri(DCT, "title"), &translation.title, other);
        if !translation.description.is_empty() {
            g.text(
                node.clone(),
                iri(DCT, "description"),
                &translation.description,
                other,
            );
        }
    }
    g.add(
        node.clone(),
        iri(DCT, "identifier"),
        Literal::new_simple_literal(d.resource_code.clone().unwrap_or_else(|| d.id.to_string())),
    );
    for keyword in &d.keywords {
        g.text(node.clone(), iri(DCAT, "keyword"), keyword, language);
    }
    for code in &d.themes {
        if let Some(theme) = theme(code) {
            let concept = NamedNode::new_unchecked(theme.uri());
            g.add(node.clone(), iri(DCAT, "theme"), concept.clone());
            g.typed(concept.clone(), iri(SKOS, "Concept"));
            g.text(concept, iri(SKOS, "prefLabel"), theme.label_en, "en");
        }
    }
    let publisher = iri(base, &format!("/organizations/{}", view.publisher.slug));
    g.add(node.clone(), iri(DCT, "publisher"), publisher.clone());
    g.typed(publisher.clone(), iri(FOAF, "Agent"));
    g.text(publisher, iri(FOAF, "name"), &view.publisher.name, "zh");
    if d.contact_name.is_some() || d.contact_email.is_some() {
        let contact = g.bnode();
        g.add(node.clone(), iri(DCAT, "contactPoint"), contact.clone());
        g.typed(contact.clone(), iri(VCARD, "Organization"));
        if let Some(name) = &d.contact_name {
            g.add(
                contact.clone(),
                iri(VCARD, "fn"),
                Literal::new_simple_literal(name),
            );
        }
        if let Some(email) = &d.contact_email {
            g.add(
                contact,
                iri(VCARD, "hasEmail"),
                NamedNode::new_unchecked(format!("mailto:{email}")),
            );
        }
    }
    if let Some(spatial) = &d.spatial {
        let location = g.bnode();
        g.add(node.clone(), iri(DCT, "spatial"), location.clone());
        g.typed(location.clone(), iri(DCT, "Location"));
        g.text(location, iri(SKOS, "prefLabel"), spatial, language);
    }
    if d.temporal_start.is_some() || d.temporal_end.is_some() {
        let period = g.bnode();
        g.add(node.clone(), iri(DCT, "temporal"), period.clone());
        g.typed(period.clone(), iri(DCT, "PeriodOfTime"));
        if let Some(start) = d.temporal_start {
            g.add(
                period.clone(),
                iri(DCAT, "startDate"),
                Literal::new_typed_literal(start.to_string(), xsd::DATE),
            );
        }
        if let Some(end) = d.temporal_end {
            g.add(
                period,
                iri(DCAT, "endDate"),
                Literal::new_typed_literal(end.to_string(), xsd::DATE),
            );
        }
    }
    if let Some(uri) = frequency_uri(&d.update_frequency) {
        let frequency = NamedNode::new_unchecked(uri);
        g.add(
            node.clone(),
            iri(DCT, "accrualPeriodicity"),
            frequency.clone(),
        );
        g.typed(frequency, iri(DCT, "Frequency"));
    }
    for code in &d.languages {
        if let Some(uri) = language_uri(code) {
            let language = NamedNode::new_unchecked(uri);
            g.add(node.clone(), iri(DCT, "language"), language.clone());
            g.typed(language, iri(DCT, "LinguisticSystem"));
        }
    }
    if let Some(page) = &d.landing_page {
        let page = NamedNode::new_unchecked(page.clone());
        g.add(node.clone(), iri(DCAT, "landingPage"), page.clone());
        g.typed(page, iri(FOAF, "Document"));
    }
    let rights = match d.classification.opening {
        OpeningClass::Open => "PUBLIC",
        OpeningClass::Conditional => "RESTRICTED",
        OpeningClass::Closed => "NON_PUBLIC",
    };
    let rights = iri(EU, &format!("access-right/{rights}"));
    g.add(node.clone(), iri(DCT, "accessRights"), rights.clone());
    g.typed(rights, iri(DCT, "RightsStatement"));
    g.add(
        node.clone(),
        iri(PDX, "sharingClass"),
        Literal::new_simple_literal(d.classification.sharing.as_str()),
    );
    g.add(
        node.clone(),
        iri(PDX, "openingClass"),
        Literal::new_simple_literal(d.classification.opening.as_str()),
    );
    g.add(
        node.clone(),
        iri(PDX, "dataGrade"),
        Literal::new_simple_literal(d.classification.grade.as_str()),
    );
    g.add(
        node.clone(),
        iri(DCAT, "version"),
        Literal::new_simple_literal(d.version.to_string()),
    );
    if let Some(issued) = d.published_at {
        g.date_time(node.clone(), iri(DCT, "issued"), issued);
    }
    g.date_time(node.clone(), iri(DCT, "modified"), d.modified_at);
    let licence = d
        .licence
        .as_ref()
        .and_then(|id| licences.iter().find(|l| &l.id == id));
    for distribution in &view.distributions {
        let child = iri(base, &format!("/distribution/{}", distribution.id));
        g.add(node.clone(), iri(DCAT, "distribution"), child.clone());
        describe_distribution(g, base, &child, distribution, licence, language);
    }
}

fn describe_distribution(
    g: &mut Graph,
    base: &str,
    node: &NamedNode,
    d: &Distribution,
    licence: Option<&Licence>,
    language: &str,
) {
    g.typed(node.clone(), iri(DCAT, "Distribution"));
    g.text(node.clone(), iri(DCT, "title"), &d.title, language);
    if let Some(description) = &d.description {
        g.text(node.clone(), iri(DCT, "description"), description, language);
    }
    let access = match d.kind {
        DistributionKind::File => iri(base, &format!("/api/v1/distributions/{}/data", d.id)),
        DistributionKind::Api => {
            NamedNode::new_unchecked(d.access_url.clone().unwrap_or_else(|| base.to_owned()))
        }
    };
    g.add(node.clone(), iri(DCAT, "accessURL"), access.clone());
    if d.kind == DistributionKind::File {
        g.add(node.clone(), iri(DCAT, "downloadURL"), access);
    }
    let file_type = iri(EU, &format!("file-type/{}", d.format.to_uppercase()));
    g.add(node.clone(), iri(DCT, "format"), file_type.clone());
    g.typed(file_type, iri(DCT, "MediaTypeOrExtent"));
    let essence = d
        .media_type
        .split(';')
        .next()
        .unwrap_or(&d.media_type)
        .trim();
    let media = NamedNode::new_unchecked(format!(
        "https://www.iana.org/assignments/media-types/{essence}"
    ));
    g.add(node.clone(), iri(DCAT, "mediaType"), media.clone());
    g.typed(media, iri(DCT, "MediaType"));
    if let Some(size) = d.byte_size {
        g.add(
            node.clone(),
            iri(DCAT, "byteSize"),
            Literal::new_typed_literal(size.to_string(), xsd::DECIMAL),
        );
    }
    if let Some(sha256) = &d.sha256 {
        let checksum = g.bnode();
        g.add(node.clone(), iri(SPDX, "checksum"), checksum.clone());
        g.typed(checksum.clone(), iri(SPDX, "Checksum"));
        g.add(
            checksum.clone(),
            iri(SPDX, "algorithm"),
            iri(SPDX, "checksumAlgorithm_sha256"),
        );
        g.add(
            checksum,
            iri(SPDX, "checksumValue"),
            Literal::new_typed_literal(sha256.clone(), xsd::HEX_BINARY),
        );
    }
    if let Some(licence) = licence {
        let document = NamedNode::new_unchecked(licence.url.clone());
        g.add(node.clone(), iri(DCT, "license"), document.clone());
        g.typed(document.clone(), iri(DCT, "LicenseDocument"));
        g.add(
            document,
            iri(DCT, "identifier"),
            Literal::new_simple_literal(licence.id.clone()),
        );
    }
    g.date_time(node.clone(), iri(DCT, "modified"), d.modified_at);
}
