//! Classification's text model, measured in process on one core: training time, classifications
//! per second with per-call latency, and accuracy on a held-out fifth, over a synthetic corpus of
//! complaints in Chinese and English labelled with the default taxonomy's routing leaves. The
//! corpus can be exported so that a TF-IDF + linear SVM baseline (scikit-learn) runs on the same
//! split: `tools/bench/baseline/tfidf_svm.py`.

use std::{io::Write, time::Instant};

use csm_classification::{
    model::{
        metrics,
        text::{Labelled, TextModel, TrainSettings},
    },
    taxonomy::{self, Taxonomy},
};
use hdrhistogram::Histogram;
use rand::{Rng, SeedableRng, rngs::StdRng, seq::IndexedRandom};

/// A labelled corpus: (text, leaf index) with the leaf keys.
pub struct Corpus {
    pub leaves: Vec<String>,
    pub examples: Vec<(String, usize)>,
}

const CJK: &str = "网络信号费用账单宽带故障服务态度套餐流量漫游通话短信营业厅客服办理投诉退订扣费速度断线维修师傅上门时间承诺处理结果满意地址号码合约活动积分优惠价格到期变更升级设备光猫路由器电视手机卡";
const ENGLISH: [&str; 60] = [
    "network",
    "signal",
    "bill",
    "charge",
    "broadband",
    "fault",
    "service",
    "staff",
    "plan",
    "data",
    "roaming",
    "call",
    "sms",
    "store",
    "agent",
    "cancel",
    "refund",
    "speed",
    "drop",
    "repair",
    "engineer",
    "visit",
    "time",
    "promise",
    "result",
    "address",
    "number",
    "contract",
    "offer",
    "points",
    "discount",
    "price",
    "expiry",
    "upgrade",
    "device",
    "modem",
    "router",
    "tv",
    "phone",
    "sim",
    "line",
    "outage",
    "slow",
    "queue",
    "wait",
    "rude",
    "wrong",
    "missing",
    "double",
    "fee",
    "package",
    "coverage",
    "indoor",
    "abroad",
    "password",
    "account",
    "invoice",
    "credit",
    "balance",
    "port",
];
const FILLER_ZH: [&str; 10] = ["我", "的", "了", "一直", "请", "尽快", "处理", "为什么", "还是", "已经"];
const FILLER_EN: [&str; 10] = ["my", "the", "is", "again", "please", "why", "still", "it", "was", "i"];

/// `count` examples over the default taxonomy's routing leaves. Each leaf draws mostly from its
/// own small vocabulary, which overlaps other leaves', plus filler and off-topic words, so the
/// task is learnable but not trivial.
pub fn synthetic(count: usize, seed: u64) -> Corpus {
    let taxonomy = taxonomy::parse(taxonomy::DEFAULT_DOCUMENT)
        .ok()
        .and_then(|document| Taxonomy::new(document, 1, 0).ok())
        .map(|t| t.leaves_of(t.routing_view()).into_iter().map(|l| l.key.clone()).collect::<Vec<_>>())
        .unwrap_or_default();
    let leaves: Vec<String> = taxonomy;
    let mut rng = StdRng::seed_from_u64(seed);
    let characters: Vec<char> = CJK.chars().collect();
    let chinese_words: Vec<String> =
        (0..240).map(|_| (0..2).map(|_| *characters.choose(&mut rng).unwrap_or(&'网')).collect()).collect();
    let vocabularies: Vec<(Vec<&String>, Vec<&str>)> = (0..leaves.len())
        .map(|_| {
            let zh = (0..12).filter_map(|_| chinese_words.choose(&mut rng)).collect();
            let en = (0..12).filter_map(|_| ENGLISH.choose(&mut rng).copied()).collect();
            (zh, en)
        })
        .collect();
    let mut examples = Vec::with_capacity(count);
    for _ in 0..count {
        let label = rng.random_range(0..leaves.len());
        let (zh, en) = &vocabularies[label];
        let chinese = rng.random_bool(0.5);
        let topical = rng.random_range(2..5);
        let noise = rng.random_range(0..3);
        let filler = rng.random_range(2..6);
        let mut words: Vec<String> = Vec::new();
        for _ in 0..topical {
            words.push(
                if chinese {
                    zh.choose(&mut rng).map(|w| w.to_string())
                } else {
                    en.choose(&mut rng).map(|w| w.to_string())
                }
                .unwrap_or_default(),
            );
        }
        for _ in 0..noise {
            let (other_zh, other_en) = &vocabularies[rng.random_range(0..leaves.len())];
            words.push(
                if chinese {
                    other_zh.choose(&mut rng).map(|w| w.to_string())
                } else {
                    other_en.choose(&mut rng).map(|w| w.to_string())
                }
                .unwrap_or_default(),
            );
        }
        for _ in 0..filler {
            words.push(
                if chinese { FILLER_ZH.choose(&mut rng) } else { FILLER_EN.choose(&mut rng) }
                    .unwrap_or(&"")
                    .to_string(),
            );
        }
        let mut order: Vec<usize> = (0..words.len()).collect();
        for i in (1..order.len()).rev() {
            order.swap(i, rng.random_range(0..=i));
        }
        let separator = if chinese { "" } else { " " };
        let text = order.iter().map(|&i| words[i].as_str()).collect::<Vec<_>>().join(separator);
        examples.push((text, label));
    }
    Corpus { leaves, examples }
}

/// Trains on the first four fifths of `examples` (plus `train_extra` more), evaluates on the rest,
/// and times classification of the held-out texts one by one on this thread.
pub fn run(examples: usize) -> String {
    let corpus = synthetic(examples + examples / 4, 7);
    let (train, test) = corpus.examples.split_at(examples);
    let labelled: Vec<Labelled> = train.iter().map(|(text, label)| Labelled { text, label: *label }).collect();
    let started = Instant::now();
    let model = TextModel::train(corpus.leaves.clone(), &labelled, TrainSettings::default());
    let training = started.elapsed();

    let mut latency = Histogram::<u64>::new(3).unwrap_or_else(|_| unreachable_histogram());
    let mut outcomes = Vec::with_capacity(test.len());
    let started = Instant::now();
    for (text, gold) in test {
        let call = Instant::now();
        let prediction = model.predict(text);
        let _ = latency.record(call.elapsed().as_nanos() as u64);
        outcomes.push((*gold, prediction.label, prediction.confidence));
    }
    let elapsed = started.elapsed();
    let figures = metrics::classification(corpus.leaves.len(), &outcomes);
    format!(
        "text model, {} leaves: trained on {} examples in {:.2} s ({} features); classified {} held-out texts on one \
         core at {:.0}/s, p50 {:.1} µs, p99 {:.1} µs; accuracy {:.3}, macro-F1 {:.3}, calibration error {:.3}",
        corpus.leaves.len(),
        train.len(),
        training.as_secs_f64(),
        model.feature_count(),
        test.len(),
        test.len() as f64 / elapsed.as_secs_f64(),
        latency.value_at_quantile(0.5) as f64 / 1000.0,
        latency.value_at_quantile(0.99) as f64 / 1000.0,
        figures.accuracy,
        figures.macro_f1,
        figures.calibration_error,
    )
}

/// Writes the corpus run() uses as tab-separated `split, leaf, text` lines.
pub fn export(examples: usize, out: &mut impl Write) -> std::io::Result<()> {
    let corpus = synthetic(examples + examples / 4, 7);
    for (i, (text, label)) in corpus.examples.iter().enumerate() {
        let split = if i < examples { "train" } else { "test" };
        writeln!(out, "{split}\t{}\t{text}", corpus.leaves[*label])?;
    }
    Ok(())
}

/// Writes the starter corpus as `train` rows and its evaluation set as `test` rows.
pub fn export_starter(language: Option<&str>, train_rows: Option<usize>, out: &mut impl Write) -> anyhow::Result<()> {
    let chinese = |text: &str| text.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c));
    let wanted = |text: &str| match language {
        Some("zh") => chinese(text),
        Some("en") => !chinese(text),
        _ => true,
    };
    let mut train: Vec<csm_classification::starter::Example> =
        csm_classification::starter::training()?.into_iter().filter(|e| wanted(&e.text)).collect();
    if let Some(rows) = train_rows {
        // An even share per leaf, taken from a fixed shuffle.
        let mut rng = StdRng::seed_from_u64(11);
        for i in (1..train.len()).rev() {
            train.swap(i, rng.random_range(0..=i));
        }
        let leaves: std::collections::BTreeSet<String> = train.iter().map(|e| e.cause.clone()).collect();
        let share = rows.div_ceil(leaves.len().max(1));
        let mut kept: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
        train.retain(|e| {
            let n = kept.entry(e.cause.clone()).or_default();
            *n += 1;
            *n <= share
        });
    }
    for e in &train {
        writeln!(out, "train\t{}\t{}", e.cause, e.text.replace(['\t', '\n'], " "))?;
    }
    for examples in csm_classification::starter::evaluation()?.values() {
        for e in examples.iter().filter(|e| wanted(&e.text)) {
            writeln!(out, "test\t{}\t{}", e.cause, e.text.replace(['\t', '\n'], " "))?;
        }
    }
    Ok(())
}

/// Trains on a TSV file's `train` rows and scores its `test` rows.
pub fn run_file(path: &std::path::Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path)?;
    let mut leaves: Vec<String> = Vec::new();
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for line in text.lines() {
        let mut fields = line.splitn(3, '\t');
        let (Some(split), Some(leaf), Some(body)) = (fields.next(), fields.next(), fields.next()) else { continue };
        let label = match leaves.iter().position(|l| l == leaf) {
            Some(i) => i,
            None => {
                leaves.push(leaf.to_string());
                leaves.len() - 1
            }
        };
        if split == "train" { train.push((body.to_string(), label)) } else { test.push((body.to_string(), label)) }
    }
    let labelled: Vec<Labelled> = train.iter().map(|(text, label)| Labelled { text, label: *label }).collect();
    let started = Instant::now();
    let model = TextModel::train(leaves.clone(), &labelled, TrainSettings::default());
    let seconds = started.elapsed().as_secs_f64();
    let outcomes: Vec<(usize, usize, f64)> = test
        .iter()
        .map(|(text, gold)| {
            let p = model.predict(text);
            (*gold, p.label, p.confidence)
        })
        .collect();
    let figures = metrics::classification(leaves.len(), &outcomes);
    Ok(format!(
        "csm text model: trained on {} in {seconds:.2} s; accuracy {:.3}, macro-F1 {:.3} on {} test rows",
        train.len(),
        figures.accuracy,
        figures.macro_f1,
        test.len()
    ))
}

fn unreachable_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, u64::MAX, 1).unwrap_or_else(|_| std::process::exit(2))
}
