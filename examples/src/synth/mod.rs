//! A deterministic synthetic London: chargepoint locations on the real borough boundaries,
//! operated by fictional operators, and (in [`activity`]) the status changes and charging
//! sessions they see over time.
//!
//! Everything is drawn from one `ChaCha8Rng` seeded with the caller's seed, in a fixed order, so
//! a seed and a scale always give the same bytes. Nothing here reads a clock.
//!
//! The mix is shaped like London's public charging: on-street lamp-post chargers (3–7 kW AC, one
//! socket) are most of the EVSEs, then kerbside posts (7 kW, some 22 kW), car-park chargers,
//! rapid hubs (50–100 kW DC) and a few ultra-rapid hubs (150–350 kW DC). Lamp-post and kerbside
//! chargers are procured by the boroughs (they carry a DPS contract reference and the borough as
//! owner), so a borough's node publishes them as well as the operator's node.

pub mod activity;
mod places;
mod sites;

use std::fmt;
use std::str::FromStr;

use evfed_spec::ext::GssCode;
use evfed_spec::ids::Party;
use evfed_spec::ocpi::Location;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub use places::{Place, place, places};

/// Why synthetic data could not be made.
#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    #[error("borough boundaries: {0}")]
    Boundaries(String),
    /// A generated object did not pass the standard's parser: a bug in the generator.
    #[error("generated location {id} is not valid OCPI: {reason}")]
    Invalid { id: String, reason: String },
}

/// How many EVSEs to generate, London-wide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scale(pub u32);

impl Scale {
    /// About 1,000 EVSEs: a demo that starts in seconds.
    pub const SMALL: Scale = Scale(1_000);
    pub const MEDIUM: Scale = Scale(5_000);
    /// About London's public network today, 25,000 EVSEs.
    pub const LONDON: Scale = Scale(25_000);
}

impl FromStr for Scale {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "small" => Ok(Scale::SMALL),
            "medium" => Ok(Scale::MEDIUM),
            "london" => Ok(Scale::LONDON),
            n => match n.parse::<u32>() {
                Ok(n) if (10..=200_000).contains(&n) => Ok(Scale(n)),
                _ => Err(format!(
                    "scale is small, medium, london or a number of EVSEs from 10 to 200000, not {s:?}"
                )),
            },
        }
    }
}

impl fmt::Display for Scale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} EVSEs", self.0)
    }
}

/// A fictional chargepoint operator.
#[derive(Debug, Clone)]
pub struct Operator {
    pub party: Party,
    pub name: &'static str,
    pub website: &'static str,
    /// A lower-case word for host names, e.g. `lampline`.
    pub slug: &'static str,
}

/// The operators, in the order the demo gives them nodes. All names and party ids are made up.
const OPERATORS: [(&str, &str, &str, &str); 6] = [
    (
        "LPL",
        "Lampline Charging Ltd",
        "https://lampline.example",
        "lampline",
    ),
    (
        "KRB",
        "Kerbcharge Ltd",
        "https://kerbcharge.example",
        "kerbcharge",
    ),
    (
        "CRP",
        "Capital Rapid plc",
        "https://capitalrapid.example",
        "capitalrapid",
    ),
    (
        "VWH",
        "Voltway Hubs Ltd",
        "https://voltway.example",
        "voltway",
    ),
    (
        "PKS",
        "Parkside Charging Ltd",
        "https://parkside.example",
        "parkside",
    ),
    (
        "BKC",
        "Borough Kerbside Co-operative",
        "https://bkc.example",
        "bkc",
    ),
];

/// The operators of the synthetic London.
pub fn operators() -> Vec<Operator> {
    OPERATORS
        .iter()
        .filter_map(|(pid, name, website, slug)| {
            Some(Operator {
                party: format!("GB*{pid}").parse().ok()?,
                name,
                website,
                slug,
            })
        })
        .collect()
}

/// What kind of site a location is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SiteKind {
    /// A socket in a lamp column, 3.7–5.5 kW AC, one EVSE.
    LampPost,
    /// A kerbside post with two sockets, 7 kW AC (some 22 kW).
    Kerbside,
    /// A car park or destination, 4–8 EVSEs at 7–22 kW AC.
    Destination,
    /// A rapid hub, 2–6 EVSEs at 50–100 kW DC.
    RapidHub,
    /// An ultra-rapid hub, 4–12 EVSEs at 150–350 kW DC.
    UltraHub,
}

impl SiteKind {
    pub const ALL: [SiteKind; 5] = [
        SiteKind::LampPost,
        SiteKind::Kerbside,
        SiteKind::Destination,
        SiteKind::RapidHub,
        SiteKind::UltraHub,
    ];

    /// Share of London's EVSEs of this kind.
    fn evse_share(self) -> f64 {
        match self {
            SiteKind::LampPost => 0.55,
            SiteKind::Kerbside => 0.22,
            SiteKind::Destination => 0.10,
            SiteKind::RapidHub => 0.09,
            SiteKind::UltraHub => 0.04,
        }
    }

    /// Smallest and largest number of EVSEs at one site.
    fn evses(self) -> (usize, usize) {
        match self {
            SiteKind::LampPost => (1, 1),
            SiteKind::Kerbside => (2, 2),
            SiteKind::Destination => (4, 8),
            SiteKind::RapidHub => (2, 6),
            SiteKind::UltraHub => (4, 12),
        }
    }

    /// Which operators run this kind, by index into [`operators`], with weights.
    fn operators(self) -> &'static [(usize, f64)] {
        match self {
            SiteKind::LampPost => &[(0, 0.70), (1, 0.15), (5, 0.15)],
            SiteKind::Kerbside => &[(1, 0.60), (0, 0.20), (5, 0.20)],
            SiteKind::Destination => &[(4, 0.70), (1, 0.30)],
            SiteKind::RapidHub => &[(2, 0.65), (3, 0.35)],
            SiteKind::UltraHub => &[(3, 0.70), (2, 0.30)],
        }
    }

    /// Indexes into [`operators`] of the operators that run this kind.
    pub fn operator_indexes(self) -> impl Iterator<Item = usize> {
        self.operators().iter().map(|(i, _)| *i)
    }

    /// Procured by the borough, so published by its node too.
    pub fn borough_contracted(self) -> bool {
        matches!(self, SiteKind::LampPost | SiteKind::Kerbside)
    }

    /// A word for reports, e.g. `lamp-post`.
    pub fn label(self) -> &'static str {
        match self {
            SiteKind::LampPost => "lamp-post",
            SiteKind::Kerbside => "kerbside",
            SiteKind::Destination => "destination",
            SiteKind::RapidHub => "rapid hub",
            SiteKind::UltraHub => "ultra-rapid hub",
        }
    }
}

/// One generated location and what the generator knows about it.
#[derive(Debug, Clone)]
pub struct Site {
    pub kind: SiteKind,
    pub borough: GssCode,
    /// Index into [`World::operators`].
    pub operator: usize,
    /// Valid OCPI 2.2.1, as the standard's parser read it back.
    pub location: Location,
}

/// A synthetic London.
#[derive(Debug, Clone)]
pub struct World {
    pub seed: u64,
    pub scale: Scale,
    pub operators: Vec<Operator>,
    pub sites: Vec<Site>,
}

/// Generates the synthetic London for `seed` at `scale`.
pub fn generate(seed: u64, scale: Scale) -> Result<World, SynthError> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let places = places()?;
    let operators = operators();
    let mut counters = vec![vec![0u32; places.len()]; operators.len()];
    let mut sites = Vec::new();
    for kind in SiteKind::ALL {
        let (lo, hi) = kind.evses();
        let mean = (lo + hi) as f64 / 2.0;
        let count = ((f64::from(scale.0) * kind.evse_share() / mean).round() as usize).max(1);
        for _ in 0..count {
            let b = pick(
                &mut rng,
                places.iter().enumerate().map(|(i, p)| {
                    // Hubs sit on arterial roads everywhere; on-street charging follows the boroughs.
                    let w = if kind.borough_contracted() || kind == SiteKind::Destination {
                        p.weight
                    } else {
                        1.0
                    };
                    (i, w)
                }),
            );
            let op = pick(&mut rng, kind.operators().iter().copied());
            counters[op][b] += 1;
            let spec = sites::Spec {
                kind,
                place: &places[b],
                operator: &operators[op],
                number: counters[op][b],
                evses: rng.gen_range(lo..=hi),
            };
            let location = sites::build(&mut rng, &spec)?;
            sites.push(Site {
                kind,
                borough: places[b].gss_code.clone(),
                operator: op,
                location,
            });
        }
    }
    Ok(World {
        seed,
        scale,
        operators,
        sites,
    })
}

impl World {
    /// Every location as one line of OCPI JSON (what `POST /v1/admin/locations` takes in
    /// batches, and `london-synth` writes).
    pub fn locations_jsonl(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for s in &self.sites {
            if serde_json::to_writer(&mut out, &s.location).is_ok() {
                out.push(b'\n');
            }
        }
        out
    }

    /// Number of EVSEs.
    pub fn evse_count(&self) -> usize {
        self.sites.iter().map(|s| s.location.evses.len()).sum()
    }
}

/// One index drawn from `(index, weight)` pairs.
fn pick<R: Rng>(rng: &mut R, items: impl Iterator<Item = (usize, f64)> + Clone) -> usize {
    let total: f64 = items.clone().map(|(_, w)| w).sum();
    let mut x = rng.gen_range(0.0..total);
    let mut last = 0;
    for (i, w) in items {
        if x < w {
            return i;
        }
        x -= w;
        last = i;
    }
    last
}
