//! The learned text model of one taxonomy view: TF-IDF over hashed character and word n-grams
//! (see `features`), one linear support-vector machine per leaf trained one-versus-rest by dual
//! coordinate descent (the method of LIBLINEAR), and a softmax over the margins whose temperature
//! is fitted on held-out examples, so that a confidence of 0.8 is right about 80% of the time.
//!
//! The settings that matter differ between a few hundred examples and a hundred thousand: how
//! strongly to regularise, and whether to weigh classes by their rarity (so that a small class is
//! not absorbed into a large one). Unless the caller fixes them, both are chosen on the held-out
//! fifth that calibration sets aside anyway, by the mean of accuracy and macro-F1 there.

use std::sync::atomic::{AtomicBool, Ordering};

use serde::{Deserialize, Serialize};

use super::{
    features::{self, PrehashedMap},
    svm::{Sparse, SvmSettings, shuffle, train_svms},
};

/// Training settings; the defaults suit short complaint texts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrainSettings {
    /// Inverse regularisation strength of the SVM; `None` chooses it on held-out examples.
    pub c: Option<f32>,
    /// Weigh each class by its rarity; `None` chooses on held-out examples.
    pub balanced: Option<bool>,
    /// Most passes over the data per leaf.
    pub max_epochs: usize,
    /// n-grams seen in fewer examples are dropped (1 keeps everything); `None` takes
    /// [`default_min_df`] for the number of examples.
    pub min_df: Option<u32>,
    /// Below this confidence a result is marked for human review (and routing backs off to a
    /// branch); `None` takes [`default_review_threshold`] for the number of classes.
    pub review_threshold: Option<f64>,
}

impl Default for TrainSettings {
    fn default() -> Self {
        Self { c: None, balanced: None, max_epochs: 40, min_df: None, review_threshold: None }
    }
}

/// The regularisation strengths tried when none is given, weakest regularisation last.
const C_CANDIDATES: [f32; 4] = [0.1, 0.3, 1.0, 3.0];

/// With this many examples or more to choose on, only the middle strengths are tried: large sets
/// are not sensitive to the extremes, and each candidate costs a fit.
const LARGE_CHOICE: usize = 8_000;

/// When neither setting is given and no held-out fold can be set aside.
const SMALL_SET_SETTINGS: (f32, bool) = (1.0, true);

/// How far from chance (1 / classes) towards certainty a confidence must be to count as clear:
/// with two classes 0.7, with sixteen 0.44. A fixed 0.5 would never ask for review with two
/// classes and would ask for it far too often with many.
pub fn default_review_threshold(classes: usize) -> f64 {
    let chance = 1.0 / classes.max(1) as f64;
    chance + (1.0 - chance) * 0.4
}

/// From this many examples on, n-grams seen in one example only are dropped.
const LARGE_SET: usize = 5_000;

/// Large sets carry many one-off n-grams that only add noise and size: on the starter corpus
/// (7,384 texts) dropping them keeps 56,000 of 156,000 features, routes the 640 independent
/// evaluation texts within one of keeping them (two English texts fewer right, one Chinese text
/// more), trains in 60 % of the time, and the service that holds the two models needs
/// 70 to 90 MiB less memory at its peak. Small sets keep them: there a one-off n-gram may be all a
/// leaf has.
pub fn default_min_df(examples: usize) -> u32 {
    if examples >= LARGE_SET { 2 } else { 1 }
}

/// What training chose, for the record.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Chosen {
    pub c: f32,
    pub balanced: bool,
    /// The held-out score (mean of accuracy and macro-F1) that chose them, when there was a fold.
    pub held_out_score: Option<f64>,
}

/// One labelled text; `label` indexes `TextModel::labels`.
#[derive(Debug, Clone, Copy)]
pub struct Labelled<'a> {
    pub text: &'a str,
    pub label: usize,
}

/// A trained model; serialised whole into the model store.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TextModel {
    pub labels: Vec<String>,
    pub review_threshold: f64,
    pub temperature: f64,
    /// Feature hashes, in index order, and their inverse document frequencies.
    hashes: Vec<u64>,
    idf: Vec<f32>,
    /// Row-major: the weights of feature `f` for every label at `f * labels.len()`; the last row
    /// is the bias.
    weights: Vec<f32>,
    #[serde(skip)]
    index: PrehashedMap<u32>,
}

/// Settings tried, with their held-out score, the held-out margins (for the temperature) and
/// each fold's dual solution.
struct Candidate {
    score: f64,
    c: f32,
    balanced: bool,
    margins: Vec<Vec<f64>>,
    alphas: Vec<Vec<Vec<f32>>>,
}

/// A prediction: the best label, its calibrated probability, and the full distribution.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    pub label: usize,
    pub confidence: f64,
    pub probabilities: Vec<f64>,
}

/// Most examples the candidates (and the calibration) are fitted on, and scored on: enough to
/// choose settings and fit one temperature, and it bounds training time for large sets.
const CALIBRATION_FIT_MAX: usize = 12_000;
const HELD_OUT_MAX: usize = 5_000;

impl TextModel {
    /// Trains on `examples`; `labels` names every class an example may carry.
    pub fn train(labels: Vec<String>, examples: &[Labelled<'_>], settings: TrainSettings) -> Self {
        let never = AtomicBool::new(false);
        let trained = Self::train_reporting(labels, examples, settings, &never);
        trained.map(|(model, _)| model).unwrap_or_else(unreachable_cancel)
    }

    /// Trains, and says which settings were chosen; `None` when `cancelled` was set meanwhile
    /// (checked between passes over the data, so a cancel takes effect within one pass).
    pub fn train_reporting(
        labels: Vec<String>,
        examples: &[Labelled<'_>],
        settings: TrainSettings,
        cancelled: &AtomicBool,
    ) -> Option<(Self, Chosen)> {
        let documents: Vec<Vec<(u64, u32)>> = in_parallel(examples, |e| term_counts(e.text));
        let min_df = settings.min_df.unwrap_or_else(|| default_min_df(examples.len()));
        let (hashes, mut idf) = vocabulary(&documents, min_df);
        weigh_in_word_ngrams(examples, &hashes, &mut idf);
        let classes = labels.len();
        let mut model = Self {
            review_threshold: settings.review_threshold.unwrap_or_else(|| default_review_threshold(classes)),
            labels,
            temperature: 1.0,
            hashes,
            idf,
            weights: Vec::new(),
            index: PrehashedMap::default(),
        };
        model.build_index();
        let vectors: Vec<Sparse> = in_parallel(&documents, |d| model.vectorise(d));
        // The term counts are twice the size of the vectors made of them; training needs only these.
        drop(documents);
        let targets: Vec<usize> = examples.iter().map(|e| e.label).collect();
        let features = model.hashes.len();
        let svm = |c: f32, balanced: bool| SvmSettings { c, max_epochs: settings.max_epochs, balanced };

        // Choose the settings and calibrate on held-out examples, then train on everything with
        // them. Small sets are scored by five-fold cross-validation, where one held-out fifth
        // would be too few examples to tell the candidates apart; larger ones on a held-out fifth
        // (fitted on a sample, which bounds training), whose dual solution starts the last fit.
        let folds = folds(examples.len());
        let mut start = vec![Vec::new(); classes];
        let mut chosen = Chosen {
            c: settings.c.unwrap_or(SMALL_SET_SETTINGS.0),
            balanced: settings.balanced.unwrap_or(SMALL_SET_SETTINGS.1),
            held_out_score: None,
        };
        if let Some(first) = folds.first() {
            let sizes = first.0.len();
            let candidates = if sizes >= LARGE_CHOICE { &C_CANDIDATES[1..3] } else { &C_CANDIDATES[..] };
            let cs: Vec<f32> = settings.c.map_or(candidates.to_vec(), |c| vec![c]);
            let weighings: Vec<bool> = settings.balanced.map_or(vec![false, true], |b| vec![b]);
            let truth: Vec<usize> = folds.iter().flat_map(|(_, held)| held.iter().map(|&i| targets[i])).collect();
            let mut best: Option<Candidate> = None;
            for &balanced in &weighings {
                // Each strength starts from the last one's solution: they are close.
                let mut warm: Vec<Vec<Vec<f32>>> = vec![vec![Vec::new(); classes]; folds.len()];
                for &c in &cs {
                    let mut margins = Vec::with_capacity(truth.len());
                    let mut alphas_by_fold = Vec::with_capacity(folds.len());
                    for (fold, (fit, held)) in folds.iter().enumerate() {
                        let fit_vectors: Vec<&Sparse> = fit.iter().map(|&i| &vectors[i]).collect();
                        let fit_targets: Vec<usize> = fit.iter().map(|&i| targets[i]).collect();
                        let problem = svm(c, balanced);
                        let (weights, alphas) =
                            train_svms(&fit_vectors, &fit_targets, classes, features, problem, &warm[fold], cancelled);
                        if cancelled.load(Ordering::Relaxed) {
                            return None;
                        }
                        model.weights = weights;
                        margins.extend(held.iter().map(|&i| model.margins(&vectors[i])));
                        alphas_by_fold.push(alphas);
                    }
                    let predicted: Vec<usize> = margins.iter().map(|m| argmax(m)).collect();
                    let score = held_out_score(classes, &truth, &predicted);
                    if best.as_ref().is_none_or(|b| score > b.score) {
                        best = Some(Candidate { score, c, balanced, margins, alphas: alphas_by_fold.clone() });
                    }
                    warm = alphas_by_fold;
                }
            }
            if let Some(Candidate { score, c, balanced, margins, alphas }) = best {
                chosen = Chosen { c, balanced, held_out_score: Some(score) };
                model.temperature = fit_temperature(&margins, &truth);
                if let ([(fit, _)], [fit_alphas]) = (folds.as_slice(), alphas.as_slice()) {
                    for (class, alphas) in fit_alphas.iter().enumerate() {
                        let mut full = vec![0.0f32; vectors.len()];
                        fit.iter().zip(alphas).for_each(|(&i, &a)| full[i] = a);
                        start[class] = full;
                    }
                }
            }
        }
        let all: Vec<&Sparse> = vectors.iter().collect();
        model.weights =
            train_svms(&all, &targets, classes, features, svm(chosen.c, chosen.balanced), &start, cancelled).0;
        (!cancelled.load(Ordering::Relaxed)).then_some((model, chosen))
    }

    /// Rebuilds the lookup index after deserialising.
    pub fn build_index(&mut self) {
        self.index = self.hashes.iter().enumerate().map(|(i, &h)| (h, i as u32)).collect();
    }

    pub fn feature_count(&self) -> usize {
        self.hashes.len()
    }

    pub fn predict(&self, text: &str) -> Prediction {
        let margins = self.margins(&self.vectorise(&term_counts(text)));
        let probabilities = softmax(&margins, self.temperature);
        let (label, confidence) =
            probabilities.iter().copied().enumerate().max_by(|a, b| a.1.total_cmp(&b.1)).unwrap_or((0, 0.0));
        Prediction { label, confidence, probabilities }
    }

    fn vectorise(&self, counts: &[(u64, u32)]) -> Sparse {
        let mut vector: Sparse = counts
            .iter()
            .filter_map(|&(hash, tf)| {
                let index = *self.index.get(&hash)?;
                Some((index, (1.0 + (tf as f32).ln()) * self.idf[index as usize]))
            })
            .collect();
        let norm = vector.iter().map(|(_, v)| v * v).sum::<f32>().sqrt();
        if norm > 0.0 {
            vector.iter_mut().for_each(|(_, v)| *v /= norm);
        }
        vector
    }

    fn margins(&self, vector: &Sparse) -> Vec<f64> {
        let classes = self.labels.len();
        if self.weights.is_empty() {
            return vec![0.0; classes];
        }
        let mut sums = self.weights[self.hashes.len() * classes..].to_vec();
        for &(index, value) in vector {
            let row = &self.weights[index as usize * classes..][..classes];
            sums.iter_mut().zip(row).for_each(|(s, w)| *s += w * value);
        }
        sums.into_iter().map(f64::from).collect()
    }
}

/// Each document's n-gram hashes with their counts.
fn term_counts(text: &str) -> Vec<(u64, u32)> {
    let mut grams = Vec::with_capacity(text.len() * 3);
    features::ngrams(text, &mut grams);
    grams.sort_unstable();
    let mut counts: Vec<(u64, u32)> = Vec::with_capacity(grams.len());
    for hash in grams {
        match counts.last_mut() {
            Some((last, n)) if *last == hash => *n += 1,
            _ => counts.push((hash, 1)),
        }
    }
    counts
}

/// How much an in-word character n-gram of a Latin-script word counts beside a word or a CJK
/// n-gram. A word of eight letters yields some thirty of them, which at full weight drown its
/// word features in the vector's norm: on the starter corpus's English evaluation texts, models
/// trained on ~300 rows gained 2 points of accuracy at 0.3, with Chinese unchanged. They still
/// carry typos and inflections ("recieve", "overcharging").
const IN_WORD_WEIGHT: f32 = 0.3;

/// Folds [`IN_WORD_WEIGHT`] into the stored inverse document frequencies of in-word n-grams, so
/// prediction weighs them the same way with no change to the model's form.
fn weigh_in_word_ngrams(examples: &[Labelled<'_>], hashes: &[u64], idf: &mut [f32]) {
    let mut in_word: Vec<u64> = Vec::new();
    let mut other = Vec::new();
    for example in examples {
        features::featurise(example.text, &mut other, &mut in_word);
        other.clear();
    }
    in_word.sort_unstable();
    in_word.dedup();
    for (hash, value) in hashes.iter().zip(idf.iter_mut()) {
        if in_word.binary_search(hash).is_ok() {
            *value *= IN_WORD_WEIGHT;
        }
    }
}

/// The n-grams seen in at least `min_df` documents, with smoothed inverse document frequencies.
fn vocabulary(documents: &[Vec<(u64, u32)>], min_df: u32) -> (Vec<u64>, Vec<f32>) {
    let mut df: PrehashedMap<u32> = PrehashedMap::default();
    for document in documents {
        for &(hash, _) in document {
            *df.entry(hash).or_default() += 1;
        }
    }
    let n = documents.len() as f32;
    let mut kept: Vec<(u64, u32)> = df.into_iter().filter(|&(_, d)| d >= min_df.max(1)).collect();
    kept.sort_unstable();
    kept.into_iter().map(|(hash, d)| (hash, ((1.0 + n) / (1.0 + d as f32)).ln() + 1.0)).unzip()
}

/// Below this many examples, settings are chosen by cross-validation.
const CROSS_VALIDATE_BELOW: usize = 2_000;

/// The (fit, held-out) index sets settings are chosen on: five folds for small sets, one
/// held-out fifth (both parts capped) for larger ones, none when too few to hold any out.
fn folds(n: usize) -> Vec<(Vec<usize>, Vec<usize>)> {
    if n < 100 {
        let (fit, held_out) = split(n);
        return if held_out.len() >= 20 { vec![(fit, held_out)] } else { Vec::new() };
    }
    if n < CROSS_VALIDATE_BELOW {
        let mut order: Vec<usize> = (0..n).collect();
        shuffle(&mut order, 0x5eed);
        return (0..5)
            .map(|k| {
                let in_fold = |position: &usize| position % 5 == k;
                let held: Vec<usize> = (0..n).filter(in_fold).map(|p| order[p]).collect();
                let fit: Vec<usize> = (0..n).filter(|p| !in_fold(p)).map(|p| order[p]).collect();
                (fit, held)
            })
            .collect();
    }
    let (mut fit, mut held_out) = split(n);
    fit.truncate(CALIBRATION_FIT_MAX);
    held_out.truncate(HELD_OUT_MAX);
    vec![(fit, held_out)]
}

/// A deterministic 80/20 split of `0..n`.
fn split(n: usize) -> (Vec<usize>, Vec<usize>) {
    let mut order: Vec<usize> = (0..n).collect();
    shuffle(&mut order, 0x5eed);
    let held = n / 5;
    let held_out = order.split_off(n - held);
    (order, held_out)
}

/// `f` over `items`, split across the cores, results in order.
fn in_parallel<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = items.len().div_ceil(threads).max(1);
    let f = &f;
    std::thread::scope(|scope| {
        let handles: Vec<_> =
            items.chunks(chunk).map(|part| scope.spawn(move || part.iter().map(f).collect::<Vec<R>>())).collect();
        handles.into_iter().flat_map(|h| h.join().unwrap_or_default()).collect()
    })
}

/// Training with a flag nobody sets always finishes.
#[cold]
fn unreachable_cancel() -> TextModel {
    TextModel {
        labels: Vec::new(),
        review_threshold: 1.0,
        temperature: 1.0,
        hashes: Vec::new(),
        idf: Vec::new(),
        weights: Vec::new(),
        index: PrehashedMap::default(),
    }
}

fn argmax(values: &[f64]) -> usize {
    values.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map_or(0, |(i, _)| i)
}

/// The mean of accuracy and macro-F1, so that neither the large classes nor the small ones
/// decide alone.
fn held_out_score(classes: usize, truth: &[usize], predicted: &[usize]) -> f64 {
    let outcomes: Vec<(usize, usize, f64)> = truth.iter().zip(predicted).map(|(&t, &p)| (t, p, 1.0)).collect();
    let figures = super::metrics::classification(classes, &outcomes);
    (figures.accuracy + figures.macro_f1) / 2.0
}

pub fn softmax(margins: &[f64], temperature: f64) -> Vec<f64> {
    let max = margins.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let exps: Vec<f64> = margins.iter().map(|m| ((m - max) / temperature).exp()).collect();
    let total: f64 = exps.iter().sum();
    exps.into_iter().map(|e| e / total).collect()
}

/// The temperature that minimises the held-out negative log-likelihood (golden-section search
/// over its logarithm).
fn fit_temperature(margins: &[Vec<f64>], truth: &[usize]) -> f64 {
    let loss = |log_t: f64| -> f64 {
        let t = log_t.exp();
        margins.iter().zip(truth).map(|(m, &y)| -softmax(m, t)[y].max(1e-12).ln()).sum()
    };
    let (mut low, mut high) = ((0.005f64).ln(), (20.0f64).ln());
    let ratio = (5f64.sqrt() - 1.0) / 2.0;
    for _ in 0..40 {
        let a = high - ratio * (high - low);
        let b = low + ratio * (high - low);
        if loss(a) < loss(b) { high = b } else { low = a }
    }
    ((low + high) / 2.0).exp()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn corpus() -> (Vec<String>, Vec<(String, usize)>) {
        let labels = vec!["billing".to_string(), "broadband".to_string(), "attitude".to_string()];
        let mut examples = Vec::new();
        let billing =
            ["话费多扣了", "莫名扣费", "账单金额不对", "I was overcharged on my bill", "wrong charge on invoice"];
        let broadband =
            ["宽带断网", "家里宽带很慢", "光猫一直闪红灯", "broadband keeps dropping", "internet is down at home"];
        let attitude =
            ["营业员态度很差", "客服挂我电话", "服务态度恶劣", "the agent was rude to me", "staff were impolite"];
        for round in 0..12 {
            for (label, texts) in [billing, broadband, attitude].iter().enumerate() {
                for text in texts.iter() {
                    examples.push((format!("{text} {}", ["", "，请尽快处理", " please help", "！"][round % 4]), label));
                }
            }
        }
        (labels, examples)
    }

    fn trained() -> TextModel {
        let (labels, examples) = corpus();
        let labelled: Vec<Labelled> = examples.iter().map(|(t, l)| Labelled { text: t, label: *l }).collect();
        TextModel::train(labels, &labelled, TrainSettings::default())
    }

    #[test]
    fn learns_chinese_and_english_without_segmentation() {
        let model = trained();
        assert_eq!(model.labels[model.predict("这个月又多扣费了").label], "billing");
        assert_eq!(model.labels[model.predict("宽带又断网了").label], "broadband");
        assert_eq!(model.labels[model.predict("The AGENT was very rude").label], "attitude");
        assert_eq!(model.labels[model.predict("my broadband is dropping again").label], "broadband");
    }

    #[test]
    fn confidence_is_a_probability_and_low_for_unrelated_text() {
        let model = trained();
        let sure = model.predict("宽带断网");
        assert!((sure.probabilities.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        assert!(sure.confidence > 0.6, "{sure:?}");
        let unsure = model.predict("天气不错");
        assert!(unsure.confidence < sure.confidence, "{unsure:?}");
    }

    #[test]
    fn survives_serialisation() {
        let model = trained();
        let bytes = postcard::to_allocvec(&model).unwrap();
        let mut back: TextModel = postcard::from_bytes(&bytes).unwrap();
        back.build_index();
        assert_eq!(back.predict("账单不对"), model.predict("账单不对"));
    }
}
