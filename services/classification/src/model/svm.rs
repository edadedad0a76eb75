//! The solver under the text model: one-versus-rest L2-regularised squared-hinge linear SVMs,
//! fitted by dual coordinate descent (Hsieh et al., 2008, the method of LIBLINEAR), one class per
//! core, each able to start from an earlier solution and to stop when training is cancelled.

use std::sync::atomic::{AtomicBool, Ordering};

pub type Sparse = Vec<(u32, f32)>;

/// One class's solution: its weights (the bias last) and its dual variables.
type Solved = (Vec<f32>, Vec<f32>);

/// One candidate's settings for the SVMs.
#[derive(Debug, Clone, Copy)]
pub struct SvmSettings {
    pub c: f32,
    pub max_epochs: usize,
    /// Weigh each class by its rarity.
    pub balanced: bool,
}

/// What every class's SVM is fitted on.
#[derive(Clone, Copy)]
struct Problem<'a> {
    vectors: &'a [&'a Sparse],
    targets: &'a [usize],
    features: usize,
    /// C per class (weighted when balanced).
    costs: &'a [f32],
    max_epochs: usize,
    cancelled: &'a AtomicBool,
}

pub fn shuffle(items: &mut [usize], seed: u64) {
    let mut state = seed | 1;
    for i in (1..items.len()).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        items.swap(i, (state % (i as u64 + 1)) as usize);
    }
}

/// One-versus-rest L2-regularised squared-hinge SVMs, one per class, spread over the cores; each
/// starts from the dual variables in `start` (empty for zeros). Returns the weights, row-major by
/// feature, and each class's dual variables.
pub fn train_svms(
    vectors: &[&Sparse],
    targets: &[usize],
    classes: usize,
    features: usize,
    settings: SvmSettings,
    start: &[Vec<f32>],
    cancelled: &AtomicBool,
) -> (Vec<f32>, Vec<Vec<f32>>) {
    // Balanced: each class's examples weigh n / (classes x its count), as in LIBLINEAR's and
    // scikit-learn's "balanced" class weights.
    let mut counts = vec![0usize; classes];
    targets.iter().for_each(|&t| counts[t] += 1);
    let costs: Vec<f32> = (0..classes)
        .map(|class| {
            let weight = if settings.balanced && counts[class] > 0 {
                targets.len() as f32 / (classes as f32 * counts[class] as f32)
            } else {
                1.0
            };
            settings.c * weight
        })
        .collect();
    let problem = &Problem { vectors, targets, features, costs: &costs, max_epochs: settings.max_epochs, cancelled };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(classes.max(1));
    let per_class: Vec<Solved> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                scope.spawn(move || {
                    (t..classes)
                        .step_by(threads)
                        .map(|class| {
                            let initial = start.get(class).map_or(&[][..], Vec::as_slice);
                            (class, train_one(problem, class, initial))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut trained: Vec<(usize, Solved)> =
            handles.into_iter().flat_map(|h| h.join().unwrap_or_default()).collect();
        trained.sort_by_key(|(class, _)| *class);
        trained.into_iter().map(|(_, solved)| solved).collect()
    });
    let mut weights = vec![0.0f32; (features + 1) * classes];
    let mut alphas = Vec::with_capacity(classes);
    for (class, (w, alpha)) in per_class.into_iter().enumerate() {
        for (feature, value) in w.iter().enumerate() {
            weights[feature * classes + class] = *value;
        }
        alphas.push(alpha);
    }
    (weights, alphas)
}

/// Dual coordinate descent (Hsieh et al., 2008) for one class against the rest, with LIBLINEAR's
/// shrinking: an example far outside the margin leaves the active set until the end, when all
/// are checked once more. The last weight is the bias, on a constant feature of 1.
fn train_one(problem: &Problem<'_>, class: usize, start: &[f32]) -> Solved {
    let Problem { vectors, targets, features, costs, max_epochs, cancelled } = *problem;
    // The squared hinge's diagonal term, 1 / (2 C_i), with C_i the cost of example i's class.
    let diagonal: Vec<f32> = targets.iter().map(|&t| 0.5 / costs[t]).collect();
    let mut w = vec![0.0f32; features + 1];
    let mut alpha = if start.len() == vectors.len() { start.to_vec() } else { vec![0.0f32; vectors.len()] };
    // w = sum of alpha_i y_i x_i, for a warm start.
    for (i, &a) in alpha.iter().enumerate().filter(|(_, a)| **a != 0.0) {
        let step = if targets[i] == class { a } else { -a };
        vectors[i].iter().for_each(|&(f, v)| w[f as usize] += step * v);
        w[features] += step;
    }
    let q: Vec<f32> =
        vectors.iter().zip(&diagonal).map(|(x, d)| x.iter().map(|(_, v)| v * v).sum::<f32>() + 1.0 + d).collect();
    let mut order: Vec<usize> = (0..vectors.len()).collect();
    let mut active = order.len();
    // Squared hinge has no upper bound on alpha, so only the lower bound shrinks.
    let mut max_old = f32::INFINITY;
    let mut epoch = 0;
    while epoch < max_epochs && !cancelled.load(Ordering::Relaxed) {
        shuffle(&mut order[..active], epoch as u64 * 7919 + class as u64 + 1);
        let (mut max_pg, mut min_pg) = (f32::NEG_INFINITY, f32::INFINITY);
        let mut s = 0;
        while s < active {
            let i = order[s];
            let y = if targets[i] == class { 1.0 } else { -1.0 };
            let x = vectors[i];
            let dot = x.iter().map(|&(f, v)| w[f as usize] * v).sum::<f32>() + w[features];
            let g = y * dot - 1.0 + diagonal[i] * alpha[i];
            let pg = if alpha[i] == 0.0 {
                if g > max_old {
                    active -= 1;
                    order.swap(s, active);
                    continue;
                }
                g.min(0.0)
            } else {
                g
            };
            max_pg = max_pg.max(pg);
            min_pg = min_pg.min(pg);
            if pg.abs() > 1e-12 {
                let old = alpha[i];
                alpha[i] = (old - g / q[i]).max(0.0);
                let step = (alpha[i] - old) * y;
                x.iter().for_each(|&(f, v)| w[f as usize] += step * v);
                w[features] += step;
            }
            s += 1;
        }
        epoch += 1;
        if max_pg - min_pg <= 0.1 {
            if active == order.len() {
                break;
            }
            active = order.len();
            max_old = f32::INFINITY;
            continue;
        }
        max_old = if max_pg <= 0.0 { f32::INFINITY } else { max_pg };
    }
    (w, alpha)
}
