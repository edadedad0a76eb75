//! Reference data gathered outside the feeds: competitor benchmarks as gap tables, and
//! mystery-shopper audits (暗访) as weighted checklists with points earned and lost per item.

use std::collections::{BTreeMap, HashSet};

use csm_kit::{error::Violations, names, time};
use csm_proto::measurement::v1::{
    Audit, AuditChecklist, AuditItemScore, BenchmarkGap, BenchmarkGaps, ImportBenchmarkRequest, ListAuditsRequest,
    ListAuditsResponse, OutletSummary, RecordAuditRequest,
};
use prost::Message;
use sea_orm::ConnectionTrait;

use crate::{error::Error, store};

fn key_ok(key: &str) -> bool {
    !key.is_empty() && key.len() <= 64 && key.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
}

fn score_ok(score: f64) -> bool {
    score.is_finite() && (0.0..=1000.0).contains(&score)
}

/// Replaces the scores imported for a competitor and period; answers the gap table.
pub async fn import_benchmark(
    db: &impl ConnectionTrait,
    request: &ImportBenchmarkRequest,
) -> Result<BenchmarkGaps, Error> {
    let mut violations = Violations::new();
    if !key_ok(&request.competitor) {
        violations.add("competitor", "1 to 64 letters, digits, '_', '-' or '.'");
    }
    if !key_ok(&request.period) {
        violations.add("period", "required, for example \"2026-Q3\"");
    }
    if request.scores.is_empty() || request.scores.len() > 500 {
        violations.add("scores", "1 to 500 items");
    }
    let mut seen = HashSet::new();
    for (i, score) in request.scores.iter().enumerate() {
        if !key_ok(&score.item) || !seen.insert(score.item.as_str()) {
            violations.add(format!("scores[{i}].item"), "a unique key of letters, digits, '_', '-' or '.'");
        }
        if !score_ok(score.own_score) {
            violations.add(format!("scores[{i}].own_score"), "a finite score from 0 to 1000");
        }
        if !score_ok(score.competitor_score) {
            violations.add(format!("scores[{i}].competitor_score"), "a finite score from 0 to 1000");
        }
    }
    violations.into_result()?;
    let gaps = gap_table(request);
    let key = format!("{}/{}", request.competitor, request.period);
    let now = time::now_micros();
    store::put_document(db, store::kind::BENCHMARK, &key, gaps.encode_to_vec(), now, now, false).await?;
    Ok(gaps)
}

fn gap_table(request: &ImportBenchmarkRequest) -> BenchmarkGaps {
    let mut gaps: Vec<BenchmarkGap> = request
        .scores
        .iter()
        .map(|s| BenchmarkGap {
            item: s.item.clone(),
            item_name: s.item_name.clone(),
            own_score: s.own_score,
            competitor_score: s.competitor_score,
            gap: s.own_score - s.competitor_score,
        })
        .collect();
    gaps.sort_by(|a, b| a.gap.total_cmp(&b.gap).then_with(|| a.item.cmp(&b.item)));
    BenchmarkGaps {
        competitor: request.competitor.clone(),
        period: request.period.clone(),
        source: request.source.clone(),
        gaps,
    }
}

pub async fn benchmark_gaps(db: &impl ConnectionTrait, competitor: &str, period: &str) -> Result<BenchmarkGaps, Error> {
    let key = format!("{competitor}/{period}");
    let body = store::get_document(db, store::kind::BENCHMARK, &key)
        .await?
        .ok_or_else(|| Error::NotFound(names::name_of(names::BENCHMARKS, &key)))?;
    BenchmarkGaps::decode(body.as_slice()).map_err(|e| Error::Corrupt(format!("benchmark {key}: {e}")))
}

pub async fn put_checklist(db: &impl ConnectionTrait, mut checklist: AuditChecklist) -> Result<AuditChecklist, Error> {
    let mut violations = Violations::new();
    if !key_ok(&checklist.key) {
        violations.add("checklist.key", "1 to 64 letters, digits, '_', '-' or '.'");
    }
    if checklist.items.is_empty() || checklist.items.len() > 200 {
        violations.add("checklist.items", "1 to 200 items");
    }
    let mut seen = HashSet::new();
    for (i, item) in checklist.items.iter().enumerate() {
        if !key_ok(&item.key) || !seen.insert(item.key.as_str()) {
            violations.add(format!("checklist.items[{i}].key"), "a unique key of letters, digits, '_', '-' or '.'");
        }
        if !(item.points.is_finite() && item.points > 0.0 && item.points <= 1000.0) {
            violations.add(format!("checklist.items[{i}].points"), "greater than 0 and at most 1000");
        }
    }
    violations.into_result()?;
    checklist.name = names::name_of(names::AUDIT_CHECKLISTS, &checklist.key);
    checklist.total_points = checklist.items.iter().map(|i| i.points).sum();
    let now = time::now_micros();
    store::put_document(db, store::kind::CHECKLIST, &checklist.key, checklist.encode_to_vec(), 0, now, false).await?;
    Ok(checklist)
}

async fn checklist(db: &impl ConnectionTrait, name: &str) -> Result<AuditChecklist, Error> {
    let key = name.strip_prefix(names::AUDIT_CHECKLISTS).unwrap_or(name);
    let body = store::get_document(db, store::kind::CHECKLIST, key)
        .await?
        .ok_or_else(|| Error::NotFound(names::name_of(names::AUDIT_CHECKLISTS, key)))?;
    AuditChecklist::decode(body.as_slice()).map_err(|e| Error::Corrupt(format!("checklist {key}: {e}")))
}

/// Scores a visit against its checklist; a retry with the same request id returns the first.
pub async fn record_audit(db: &impl ConnectionTrait, request: &RecordAuditRequest) -> Result<Audit, Error> {
    let mut violations = Violations::new();
    if request.checklist.is_empty() {
        violations.add("checklist", "required: \"auditChecklists/{key}\"");
    }
    if !key_ok(&request.outlet) {
        violations.add("outlet", "1 to 64 letters, digits, '_', '-' or '.'");
    }
    if !key_ok(&request.request_id) {
        violations.add("request_id", "required: 1 to 64 letters, digits, '_', '-' or '.'");
    }
    let visit = request.visit_time.as_ref().and_then(time::from_timestamp);
    if visit.is_none() {
        violations.add("visit_time", "required");
    }
    violations.into_result()?;
    let checklist = checklist(db, &request.checklist).await?;
    let mut violations = Violations::new();
    let mut earned: BTreeMap<&str, (f64, &str)> = BTreeMap::new();
    for (i, result) in request.results.iter().enumerate() {
        match checklist.items.iter().find(|item| item.key == result.item) {
            None => violations.add(format!("results[{i}].item"), format!("{:?} is not on the checklist", result.item)),
            Some(item)
                if !(result.points_earned.is_finite() && (0.0..=item.points).contains(&result.points_earned)) =>
            {
                violations.add(format!("results[{i}].points_earned"), format!("0 to {}", item.points));
            }
            Some(item) => {
                if earned.insert(item.key.as_str(), (result.points_earned, result.note.as_str())).is_some() {
                    violations.add(format!("results[{i}].item"), "each item once");
                }
            }
        }
    }
    for item in &checklist.items {
        if !earned.contains_key(item.key.as_str()) {
            violations.add("results", format!("item {:?} has no result", item.key));
        }
    }
    violations.into_result()?;
    let items: Vec<AuditItemScore> = checklist
        .items
        .iter()
        .map(|item| {
            let (points_earned, note) = earned.get(item.key.as_str()).copied().unwrap_or((0.0, ""));
            AuditItemScore {
                item: item.key.clone(),
                title: item.title.clone(),
                points: item.points,
                points_earned,
                points_lost: item.points - points_earned,
                note: note.to_string(),
            }
        })
        .collect();
    let at = visit.map(time::micros).unwrap_or_default();
    let audit = Audit {
        name: names::name_of(names::AUDITS, &request.request_id),
        checklist: checklist.name.clone(),
        outlet: request.outlet.clone(),
        visit_time: request.visit_time,
        auditor: request.auditor.clone(),
        points_earned: items.iter().map(|i| i.points_earned).sum(),
        points_lost: items.iter().map(|i| i.points_lost).sum(),
        total_points: checklist.total_points,
        items,
    };
    let stored = store::put_document(
        db,
        store::kind::AUDIT,
        &request.request_id,
        audit.encode_to_vec(),
        at,
        time::now_micros(),
        true,
    )
    .await?;
    if stored {
        return Ok(audit);
    }
    let body = store::get_document(db, store::kind::AUDIT, &request.request_id).await?.unwrap_or_default();
    Audit::decode(body.as_slice()).map_err(|e| Error::Corrupt(format!("audit {}: {e}", request.request_id)))
}

pub async fn list_audits(db: &impl ConnectionTrait, request: &ListAuditsRequest) -> Result<ListAuditsResponse, Error> {
    let window = match (
        request.start_time.as_ref().and_then(time::from_timestamp),
        request.end_time.as_ref().and_then(time::from_timestamp),
    ) {
        (Some(start), Some(end)) => Some((time::micros(start), time::micros(end))),
        (None, None) => None,
        _ => return Err(Violations::one("end_time", "give both start_time and end_time, or neither").into()),
    };
    let mut audits = Vec::new();
    for (key, body) in store::list_documents(db, store::kind::AUDIT, window).await? {
        let audit = Audit::decode(body.as_slice()).map_err(|e| Error::Corrupt(format!("audit {key}: {e}")))?;
        let checklist_matches = request.checklist.is_empty() || audit.checklist == request.checklist;
        if checklist_matches && (request.outlet.is_empty() || audit.outlet == request.outlet) {
            audits.push(audit);
        }
    }
    let mut by_outlet: BTreeMap<&str, Vec<&Audit>> = BTreeMap::new();
    for audit in &audits {
        by_outlet.entry(audit.outlet.as_str()).or_default().push(audit);
    }
    let outlets = by_outlet
        .into_iter()
        .map(|(outlet, visits)| {
            let n = visits.len() as f64;
            let mut items: BTreeMap<&str, AuditItemScore> = BTreeMap::new();
            for item in visits.iter().flat_map(|a| &a.items) {
                let sum = items.entry(item.item.as_str()).or_insert_with(|| AuditItemScore {
                    item: item.item.clone(),
                    title: item.title.clone(),
                    ..AuditItemScore::default()
                });
                sum.points += item.points;
                sum.points_earned += item.points_earned;
                sum.points_lost += item.points_lost;
            }
            let mut items: Vec<AuditItemScore> = items.into_values().collect();
            items.sort_by(|a, b| b.points_lost.total_cmp(&a.points_lost).then_with(|| a.item.cmp(&b.item)));
            OutletSummary {
                outlet: outlet.to_string(),
                audits: visits.len() as i64,
                mean_points_earned: visits.iter().map(|a| a.points_earned).sum::<f64>() / n,
                mean_points_lost: visits.iter().map(|a| a.points_lost).sum::<f64>() / n,
                items,
            }
        })
        .collect();
    Ok(ListAuditsResponse { audits, outlets })
}
