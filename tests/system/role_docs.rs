//! Who may call what, written from the services' own policies into the README (a list per role)
//! and `docs/roles.md` (a table per method), so the documents cannot drift from the code. Run with
//! `CSM_UPDATE_DOCS=1` to rewrite them after a policy changes.

use std::collections::BTreeSet;

use csm_kit::Role::{self, *};

const ROLES: [Role; 7] = [ChannelSystem, Agent, Department, Supervisor, Analyst, Administrator, Service];

/// Every method of every service: (service, method, roles allowed, audited), sorted.
fn policy_entries() -> BTreeSet<(String, String, Vec<Role>, bool)> {
    let policies =
        [csm_intake::policy(), csm_classification::policy(), csm_recovery::policy(), csm_measurement::policy()];
    let mut entries = BTreeSet::new();
    for policy in &policies {
        for (path, roles, audited) in policy.entries() {
            let (service, method) = path.trim_start_matches('/').split_once('/').unwrap_or_default();
            let service = service.split('.').nth(1).unwrap_or(service).to_string();
            entries.insert((service, method.to_string(), roles, audited));
        }
    }
    entries
}

/// What each role may call, by service. Audited methods are marked with `*`.
fn role_summary() -> String {
    let entries = policy_entries();
    let mut text = String::new();
    for role in ROLES {
        let mut by_service: Vec<(String, Vec<String>)> = Vec::new();
        for (service, method, allowed, audited) in &entries {
            if !allowed.contains(&role) {
                continue;
            }
            let method = if *audited { format!("{method}*") } else { method.clone() };
            match by_service.last_mut() {
                Some((last, methods)) if last == service => methods.push(method),
                _ => by_service.push((service.clone(), vec![method])),
            }
        }
        let parts: Vec<String> =
            by_service.iter().map(|(service, methods)| format!("{service}: {}", methods.join(", "))).collect();
        text.push_str(&format!("- `{role}`: {}\n", parts.join("; ")));
    }
    text
}

/// One table per service: each method, the roles that may call it, and whether it is audited.
fn role_table() -> String {
    let entries = policy_entries();
    let mut text = String::from(
        "# Who may call what\n\n\
         Generated from the services' policies by `tests/system/role_docs.rs`; a service will not start\n\
         if one of its methods has no rule. Audited calls are written to the `csm::audit` log target\n\
         with the caller, its roles and the outcome, served or refused. A `department` caller is further\n\
         confined to its own department's cases, sub-tasks, programmes and care tasks (and in intake to\n\
         the work orders and customers of its root causes). Health checks and reflection need no token;\n\
         the feed (`Subscribe`, `GetFeedState`) is open to `service` and `administrator` on every service.\n",
    );
    let mut current = String::new();
    for (service, method, allowed, audited) in &entries {
        if *service != current {
            current = service.clone();
            text.push_str(&format!("\n## {service}\n\n| method | "));
            text.push_str(&ROLES.map(|r| format!("`{r}`")).join(" | "));
            text.push_str(" | audited |\n|---|");
            text.push_str(&"---|".repeat(ROLES.len() + 1));
            text.push('\n');
        }
        let marks = ROLES.map(|r| if allowed.contains(&r) { "yes" } else { "" });
        text.push_str(&format!("| {method} | {} | {} |\n", marks.join(" | "), if *audited { "yes" } else { "" }));
    }
    text
}

fn updating() -> bool {
    std::env::var_os("CSM_UPDATE_DOCS").is_some()
}

const REGENERATE: &str = "regenerate with CSM_UPDATE_DOCS=1 cargo test -p csm-tests --test system the_readme_says";

#[test]
fn the_readme_says_what_each_role_may_call_as_the_policies_do() {
    const BEGIN: &str = "<!-- roles: generated from the services' policies by tests/system/role_docs.rs -->\n";
    const END: &str = "<!-- end of roles -->";
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md");
    let readme = std::fs::read_to_string(&path).unwrap();
    let start = readme.find(BEGIN).expect("the README's roles block") + BEGIN.len();
    let end = readme[start..].find(END).expect("the end of the roles block") + start;
    let generated = role_summary();
    if updating() {
        std::fs::write(&path, format!("{}{generated}{}", &readme[..start], &readme[end..])).unwrap();
        return;
    }
    assert_eq!(&readme[start..end], generated, "the README's roles differ from the policies; {REGENERATE}");
}

#[test]
fn the_readme_says_in_docs_roles_md_who_may_call_each_method() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/roles.md");
    let generated = role_table();
    if updating() {
        std::fs::write(&path, &generated).unwrap();
        return;
    }
    let written = std::fs::read_to_string(&path).unwrap_or_default();
    assert_eq!(written, generated, "docs/roles.md differs from the policies; {REGENERATE}");
}
