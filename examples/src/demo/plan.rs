//! Which nodes the demo federation has and what each publishes.
//!
//! A borough node publishes the on-street chargers the borough procured (lamp-post and
//! kerbside sites in the borough), under their operators' parties and ids, as a borough's
//! asset register would. An operator node publishes all of its operator's sites, London-wide.
//! So each borough-procured site of an operator that runs a node is published twice under the
//! same `(country_code, party_id, id)`, and the aggregator merges the two copies.

use evfed_spec::ext::GssCode;
use evfed_spec::ids::Party;

use crate::synth::{Place, SiteKind, World, places};

/// The boroughs given nodes first (then the rest in GSS order): Camden, Westminster, Hackney,
/// Lambeth, Southwark, Islington.
const FIRST_BOROUGHS: [&str; 6] = [
    "E09000007",
    "E09000033",
    "E09000012",
    "E09000022",
    "E09000028",
    "E09000019",
];

/// The aggregator's origin.
pub const AGGREGATOR_ORIGIN: &str = "evfed.london.example";

/// A node's kind, as `evfed-node init --kind` and `evfed-aggregator members add --kind` spell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Borough,
    Cpo,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Borough => "borough",
            Kind::Cpo => "cpo",
        }
    }
}

/// One node of the federation.
#[derive(Debug, Clone)]
pub struct NodePlan {
    /// Directory name and log name, e.g. `camden`.
    pub slug: String,
    pub origin: String,
    pub kind: Kind,
    pub borough: Option<GssCode>,
    /// Parties it accepts and the aggregator lets it publish.
    pub parties: Vec<Party>,
    /// Indexes into [`World::sites`] of what it publishes.
    pub sites: Vec<usize>,
}

/// The federation for `world`: `boroughs` borough nodes and `operators` operator nodes.
pub fn plan(world: &World, boroughs: usize, operators: usize) -> anyhow::Result<Vec<NodePlan>> {
    let all = places()?;
    let mut chosen: Vec<&Place> = FIRST_BOROUGHS
        .iter()
        .filter_map(|code| all.iter().find(|p| p.gss_code.as_str() == *code))
        .collect();
    chosen.extend(
        all.iter()
            .filter(|p| !FIRST_BOROUGHS.contains(&p.gss_code.as_str())),
    );
    chosen.truncate(boroughs);
    let on_street = contracting_parties(world);
    let mut nodes = Vec::new();
    for place in chosen {
        let sites = world
            .sites
            .iter()
            .enumerate()
            .filter(|(_, s)| s.kind.borough_contracted() && s.borough == place.gss_code)
            .map(|(i, _)| i)
            .collect();
        nodes.push(NodePlan {
            slug: place.slug(),
            origin: format!("evfed.{}.example", place.slug()),
            kind: Kind::Borough,
            borough: Some(place.gss_code.clone()),
            parties: on_street.clone(),
            sites,
        });
    }
    for (i, op) in world.operators.iter().enumerate().take(operators) {
        let sites = world
            .sites
            .iter()
            .enumerate()
            .filter(|(_, s)| s.operator == i)
            .map(|(i, _)| i)
            .collect();
        nodes.push(NodePlan {
            slug: op.slug.to_owned(),
            origin: format!("evfed.{}.example", op.slug),
            kind: Kind::Cpo,
            borough: None,
            parties: vec![op.party.clone()],
            sites,
        });
    }
    Ok(nodes)
}

/// The parties of operators that run borough-procured chargers (whatever the seed).
fn contracting_parties(world: &World) -> Vec<Party> {
    let mut parties: Vec<Party> = SiteKind::ALL
        .iter()
        .filter(|k| k.borough_contracted())
        .flat_map(|k| k.operator_indexes())
        .filter_map(|i| world.operators.get(i).map(|o| o.party.clone()))
        .collect();
    parties.sort_by_key(ToString::to_string);
    parties.dedup();
    parties
}

/// For each site, the nodes (indexes into the plan) that publish it.
pub fn publishers(world: &World, nodes: &[NodePlan]) -> Vec<Vec<usize>> {
    let mut out = vec![Vec::new(); world.sites.len()];
    for (n, node) in nodes.iter().enumerate() {
        for &s in &node.sites {
            out[s].push(n);
        }
    }
    out
}

/// For each site, the one node that gets its sessions: the operator's own node when it runs
/// one, else the first node that publishes the site (its borough's); `None` when no node
/// publishes it. One node only, because the aggregator adds up the sessions of every member
/// it harvests, so a session sent to both a borough and its operator would count twice.
pub fn usage_publishers(world: &World, nodes: &[NodePlan]) -> Vec<Option<usize>> {
    publishers(world, nodes)
        .into_iter()
        .enumerate()
        .map(|(site, pubs)| {
            let party = &world.operators[world.sites[site].operator].party;
            pubs.iter()
                .copied()
                .find(|&n| nodes[n].kind == Kind::Cpo && nodes[n].parties.contains(party))
                .or_else(|| pubs.first().copied())
        })
        .collect()
}
