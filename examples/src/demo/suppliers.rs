//! The DPS supplier register the demo gives the aggregator (`suppliers.toml`, the file an
//! administrator keeps): every operator that runs a node is a supplier, with one contract per
//! borough node listing the borough-procured charge points it runs there (an operator of only
//! rapid hubs has none). The last supplier with a contract also has a charge point in it that
//! it never publishes, so the compliance view shows a supplier falling short out of the box.

use std::path::Path;

use serde::Serialize;

use super::plan::{Kind, NodePlan};
use crate::synth::World;

/// The contracted charge point no node publishes.
pub const UNPUBLISHED: (&str, &str) = ("DEMO-UNPUBLISHED-1", "DEMO-UNPUBLISHED-1-1");

#[derive(Serialize)]
struct Register {
    supplier: Vec<Supplier>,
}

#[derive(Serialize)]
struct Supplier {
    id: String,
    name: String,
    parties: Vec<String>,
    members: Vec<String>,
    contract: Vec<Contract>,
}

#[derive(Serialize)]
struct Contract {
    id: String,
    borough: String,
    chargepoints: Vec<Chargepoint>,
}

#[derive(Serialize)]
struct Chargepoint {
    location: String,
    evse: String,
}

/// Writes `DIR/suppliers.toml` for the planned federation (replacing any earlier one).
pub fn write(agg_dir: &Path, world: &World, plans: &[NodePlan]) -> anyhow::Result<()> {
    let boroughs: Vec<&NodePlan> = plans.iter().filter(|p| p.kind == Kind::Borough).collect();
    let operators: Vec<(usize, &NodePlan)> = plans
        .iter()
        .filter(|p| p.kind == Kind::Cpo)
        .filter_map(|p| {
            let i = world
                .operators
                .iter()
                .position(|o| p.parties.contains(&o.party))?;
            Some((i, p))
        })
        .collect();
    let mut suppliers = Vec::new();
    for (op, plan) in &operators {
        let operator = &world.operators[*op];
        let mut contracts = Vec::new();
        for b in &boroughs {
            let Some(gss) = &b.borough else { continue };
            let chargepoints: Vec<Chargepoint> = b
                .sites
                .iter()
                .map(|&i| &world.sites[i])
                .filter(|s| s.operator == *op)
                .flat_map(|s| {
                    s.location.evses.iter().map(|e| Chargepoint {
                        location: s.location.id.as_str().to_owned(),
                        evse: e.uid.as_str().to_owned(),
                    })
                })
                .collect();
            if chargepoints.is_empty() {
                continue;
            }
            contracts.push(Contract {
                id: format!("{}-{}-DPS", b.slug.to_uppercase(), operator.party.party_id),
                borough: gss.to_string(),
                chargepoints,
            });
        }
        suppliers.push(Supplier {
            id: operator.party.party_id.to_string(),
            name: operator.name.to_owned(),
            parties: vec![operator.party.to_string()],
            members: vec![plan.origin.clone()],
            contract: contracts,
        });
    }
    if let Some(contract) = suppliers
        .iter_mut()
        .rev()
        .find_map(|s| s.contract.first_mut())
    {
        contract.chargepoints.push(Chargepoint {
            location: UNPUBLISHED.0.to_owned(),
            evse: UNPUBLISHED.1.to_owned(),
        });
    }
    let text = toml::to_string(&Register {
        supplier: suppliers,
    })?;
    let header =
        "# DPS suppliers and their contracts, written by london-demo (docs/compliance.md).\n";
    std::fs::write(agg_dir.join("suppliers.toml"), format!("{header}{text}"))?;
    Ok(())
}
