//! The forest (smartcore's `RandomForestRegressor`), random-forest proximity built on its trees,
//! the score transfer, and the model file.

use std::collections::HashMap;
use std::io::{BufReader, BufWriter, Write};
use std::path::Path;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use smartcore::ensemble::random_forest_regressor::{
    RandomForestRegressor, RandomForestRegressorParameters,
};
use smartcore::linalg::basic::matrix::DenseMatrix;

use super::encode::{encode, factor_names, feature_factor, feature_names, n_features};
use super::schema::{Dataset, Factors, Location, Nature, PastEvent, PlannedEvent, Sector};
use super::ForecastError;

type Forest = RandomForestRegressor<f64, f64, DenseMatrix<f64>, Vec<f64>>;

/// `format` field of a model file.
pub const MODEL_FORMAT: &str = "vigie-forecast-model";
/// Version of the model file layout; a file of another version is refused (retrain).
pub const MODEL_VERSION: u32 = 1;
/// The forest crate and version the model files are written with.
pub const FOREST_CRATE: &str = "smartcore 0.7.0 RandomForestRegressor";
/// Default number of most similar past events the score is transferred from.
pub const DEFAULT_K: usize = 10;

/// Hyper-parameters of the forest. Their names follow scikit-learn's `RandomForestRegressor`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainOptions {
    /// Number of trees (`n_estimators`).
    pub n_trees: usize,
    /// Deepest a tree may grow; `None`: until the leaves are pure or too small.
    pub max_depth: Option<u16>,
    /// Fewest training events in a leaf (bootstrap copies counted).
    pub min_samples_leaf: usize,
    /// Fewest training events in a node for it to be split.
    pub min_samples_split: usize,
    /// Features drawn at random as split candidates at each node; `None`: a third of them.
    pub max_features: Option<usize>,
    /// Seed of the bootstrap samples and feature draws: same data + same seed = same forest.
    pub seed: u64,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            n_trees: 200,
            max_depth: None,
            min_samples_leaf: 3,
            min_samples_split: 2,
            max_features: None,
            seed: 42,
        }
    }
}

impl TrainOptions {
    /// `max_features` as used: the given value within 1..=features, else a third of them.
    pub fn resolved_max_features(&self) -> usize {
        let n = n_features();
        self.max_features
            .unwrap_or_else(|| (n as f64 / 3.0).round() as usize)
            .clamp(1, n)
    }
}

/// The weight of one factor (or feature) in the forest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Importance {
    pub factor: String,
    pub weight: f64,
}

/// How the model was trained: shown on request to explain a forecast.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingInfo {
    pub n_events: usize,
    /// UTC, RFC 3339.
    pub trained_at: String,
    pub vigie_version: String,
    pub forest: String,
    /// The options as used (`max_features` resolved).
    pub options: TrainOptions,
    pub n_features: usize,
    /// R² of the out-of-bag predictions on the training events (each event predicted by the
    /// trees that did not see it): an honest estimate of the held-out R².
    pub oob_r2: Option<f64>,
    pub train_seconds: f64,
    pub score_mean: f64,
    pub score_min: f64,
    pub score_max: f64,
}

/// The factor schema a model was trained on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SchemaInfo {
    pub factors: Vec<String>,
    pub features: Vec<String>,
    pub natures: Vec<Nature>,
    pub sectors: Vec<Sector>,
    pub locations: Vec<Location>,
    pub weekend_rule: String,
    pub season_rule: String,
}

impl SchemaInfo {
    fn current() -> Self {
        SchemaInfo {
            factors: factor_names().iter().map(|s| s.to_string()).collect(),
            features: feature_names(),
            natures: Nature::ALL.to_vec(),
            sectors: Sector::ALL.to_vec(),
            locations: Location::ALL.to_vec(),
            weekend_rule: "weekend = the date is a Saturday or a Sunday".into(),
            season_rule: "summer = April to September, winter = October to March".into(),
        }
    }
}

#[derive(Serialize, Deserialize)]
struct ModelFile {
    format: String,
    version: u32,
    schema: SchemaInfo,
    training: TrainingInfo,
    /// Mean decrease in impurity, added up per factor, largest first.
    importances: Vec<Importance>,
    /// Mean decrease in impurity per feature, in feature order.
    feature_importances: Vec<Importance>,
    /// The past events the forest learnt from (their factors and scores; no personal data).
    events: Vec<PastEvent>,
    /// The trees of the fitted smartcore forest, node by node.
    trees: Vec<Tree>,
    /// The forest's predictions for the first training events at training time: a loaded model
    /// must give them again, bit for bit.
    check: Vec<f64>,
}

/// One tree of the forest, as read from smartcore's fitted forest: node `i` splits on
/// `feature[i]` at `threshold[i]` (`x <= threshold` goes to `left[i]`, else `right[i]`); a node
/// whose `left` and `right` are 0 is a leaf and predicts `value[i]` (the root is node 0, never a
/// child). Parallel arrays keep the model file small.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Tree {
    feature: Vec<u16>,
    threshold: Vec<f64>,
    left: Vec<u32>,
    right: Vec<u32>,
    value: Vec<f64>,
}

impl Tree {
    fn from_view(view: &TreeView) -> Tree {
        let n = view.nodes.len();
        let mut t = Tree {
            feature: Vec::with_capacity(n),
            threshold: Vec::with_capacity(n),
            left: Vec::with_capacity(n),
            right: Vec::with_capacity(n),
            value: Vec::with_capacity(n),
        };
        for node in &view.nodes {
            match (node.true_child, node.false_child) {
                (Some(l), Some(r)) => {
                    t.feature.push(node.split_feature as u16);
                    t.threshold.push(node.split_value.unwrap_or(f64::NAN));
                    t.left.push(l as u32);
                    t.right.push(r as u32);
                    t.value.push(0.0);
                }
                _ => {
                    t.feature.push(0);
                    t.threshold.push(0.0);
                    t.left.push(0);
                    t.right.push(0);
                    t.value.push(node.output);
                }
            }
        }
        t
    }

    /// Structure check: parallel arrays, children in range and after their parent (no cycle),
    /// features in range.
    fn check(&self) -> Result<(), String> {
        let n = self.value.len();
        if n == 0
            || self.feature.len() != n
            || self.threshold.len() != n
            || self.left.len() != n
            || self.right.len() != n
        {
            return Err("arrays of different lengths".into());
        }
        for i in 0..n {
            let (l, r) = (self.left[i] as usize, self.right[i] as usize);
            if (l == 0) != (r == 0) {
                return Err(format!("node {i} has one child"));
            }
            if l != 0 && (l <= i || r <= i || l >= n || r >= n) {
                return Err(format!("node {i} has a child out of order or range"));
            }
            if l != 0 && (self.feature[i] as usize) >= n_features() {
                return Err(format!("node {i} splits on an unknown feature"));
            }
        }
        Ok(())
    }

    /// Index of the leaf `x` falls in: the same walk as smartcore's `leaf_output_for_row`.
    fn leaf(&self, x: &[f64]) -> usize {
        let mut id = 0;
        loop {
            let l = self.left[id] as usize;
            if l == 0 {
                return id;
            }
            let goes_left = x
                .get(self.feature[id] as usize)
                .is_some_and(|v| *v <= self.threshold[id]);
            id = if goes_left {
                l
            } else {
                self.right[id] as usize
            };
        }
    }
}

/// Read-only view of one of smartcore's trees. smartcore 0.7 keeps the nodes private and gives
/// no leaf index for a sample; its trees are serde-serializable, so the nodes are read from the
/// serialized forest. Training checks that walking these nodes gives exactly smartcore's own
/// predictions, so a change of layout in a later smartcore cannot go unnoticed.
#[derive(Deserialize)]
struct TreeView {
    nodes: Vec<NodeView>,
}

#[derive(Deserialize)]
struct NodeView {
    output: f64,
    split_feature: usize,
    split_value: Option<f64>,
    true_child: Option<usize>,
    false_child: Option<usize>,
}

#[derive(Deserialize)]
struct ForestView {
    forest_regressor: Option<BaseForestView>,
}

#[derive(Deserialize)]
struct BaseForestView {
    trees: Option<Vec<TreeView>>,
}

/// A past event among the most similar to a planned one.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Neighbour {
    pub rank: usize,
    pub id: String,
    /// Proximity: fraction of the trees in which both events fall in the same leaf (0–1).
    pub similarity: f64,
    /// Share of this event's score in the transferred score (similarities normalized).
    pub weight: f64,
    pub score: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    #[serde(flatten)]
    pub factors: Factors,
}

/// A forecast for one planned event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Forecast {
    pub event: PlannedEvent,
    /// The predicted score: the scores of the `k` most similar past events, weighted by their
    /// similarity (Σ similarity·score / Σ similarity).
    pub score: f64,
    /// The forest's own prediction (mean of the trees' leaf values), shown alongside.
    pub forest_score: f64,
    pub k: usize,
    pub neighbours: Vec<Neighbour>,
    /// Which factors weigh most in the forest (mean decrease in impurity), largest first.
    pub importances: Vec<Importance>,
}

/// What a trained model is: for `GET /api/forecast/model` and `--explain`.
#[derive(Debug, Clone, Serialize)]
pub struct ModelSummary {
    pub format: String,
    pub version: u32,
    pub training: TrainingInfo,
    pub schema: SchemaInfo,
    pub importances: Vec<Importance>,
    pub feature_importances: Vec<Importance>,
}

/// A trained forest with the past events it learnt from, ready to forecast.
pub struct ForecastModel {
    file: ModelFile,
    /// For each tree, for each node, the training events that fall in it (leaves only).
    members: Vec<Vec<Vec<u32>>>,
    /// The smartcore forest itself, when trained in this process (not kept in the file).
    fitted: Option<Forest>,
}

impl std::fmt::Debug for ForecastModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ForecastModel")
            .field("training", &self.file.training)
            .field("trees", &self.file.trees.len())
            .finish()
    }
}

/// Number of training events whose predictions are stored to check a loaded model.
const CHECK_ROWS: usize = 64;

/// Reads the trees of a fitted smartcore forest through its serde serialization, and checks that
/// walking them gives smartcore's predictions.
fn extract_trees(forest: &Forest) -> Result<Vec<Tree>, ForecastError> {
    let layout = |reason: String| {
        ForecastError::Training(format!(
            "cannot read the trees of the smartcore forest ({reason}); its layout changed?"
        ))
    };
    let value = serde_json::to_value(forest).map_err(|e| layout(e.to_string()))?;
    let view: ForestView = serde_json::from_value(value).map_err(|e| layout(e.to_string()))?;
    let trees: Vec<Tree> = view
        .forest_regressor
        .and_then(|f| f.trees)
        .ok_or_else(|| layout("no trees".into()))?
        .iter()
        .map(Tree::from_view)
        .collect();
    for (i, t) in trees.iter().enumerate() {
        t.check().map_err(|e| layout(format!("tree {i}: {e}")))?;
    }
    Ok(trees)
}

fn to_matrix(rows: &[Vec<f64>]) -> Result<DenseMatrix<f64>, ForecastError> {
    let rows = rows.to_vec();
    DenseMatrix::from_2d_vec(&rows).map_err(|e| ForecastError::Training(e.to_string()))
}

/// Coefficient of determination of `pred` against `y` (1 is perfect, 0 is the mean's level).
pub fn r2(y: &[f64], pred: &[f64]) -> f64 {
    let n = y.len().min(pred.len());
    if n == 0 {
        return f64::NAN;
    }
    let mean = y[..n].iter().sum::<f64>() / n as f64;
    let ss_tot: f64 = y[..n].iter().map(|v| (v - mean).powi(2)).sum();
    let ss_res: f64 = y[..n]
        .iter()
        .zip(&pred[..n])
        .map(|(a, b)| (a - b).powi(2))
        .sum();
    if ss_tot == 0.0 {
        return f64::NAN;
    }
    1.0 - ss_res / ss_tot
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| "unknown".to_string())
}

impl ForecastModel {
    /// Trains a forest on a history of past events.
    pub fn train(data: &Dataset, opts: &TrainOptions) -> Result<ForecastModel, ForecastError> {
        if data.events.len() < 10 {
            return Err(ForecastError::Training(format!(
                "{} past events: at least 10 are needed",
                data.events.len()
            )));
        }
        if opts.n_trees == 0 || opts.n_trees > 5000 {
            return Err(ForecastError::Training(format!(
                "n_trees {} must be within 1..=5000",
                opts.n_trees
            )));
        }
        if opts.min_samples_leaf == 0 {
            return Err(ForecastError::Training(
                "min_samples_leaf must be ≥ 1".into(),
            ));
        }
        let mut opts = opts.clone();
        opts.max_features = Some(opts.resolved_max_features());
        opts.min_samples_split = opts.min_samples_split.max(2);

        let rows: Vec<Vec<f64>> = data.events.iter().map(|e| encode(&e.factors)).collect();
        let y: Vec<f64> = data.events.iter().map(|e| e.score).collect();
        let x = to_matrix(&rows)?;
        let mut params = RandomForestRegressorParameters::default()
            .with_n_trees(opts.n_trees)
            .with_min_samples_leaf(opts.min_samples_leaf)
            .with_min_samples_split(opts.min_samples_split)
            .with_m(opts.resolved_max_features())
            .with_seed(opts.seed)
            .with_keep_samples(true);
        if let Some(d) = opts.max_depth {
            params = params.with_max_depth(d);
        }
        let started = Instant::now();
        let forest =
            Forest::fit(&x, &y, params).map_err(|e| ForecastError::Training(e.to_string()))?;
        let train_seconds = started.elapsed().as_secs_f64();

        let oob_r2 = forest.predict_oob(&x).ok().and_then(|oob| {
            let (ys, ps): (Vec<f64>, Vec<f64>) = y
                .iter()
                .zip(&oob)
                .filter(|(_, p)| p.is_finite())
                .map(|(a, b)| (*a, *b))
                .unzip();
            let v = r2(&ys, &ps);
            v.is_finite().then_some(v)
        });
        let per_feature = forest
            .compute_feature_importances()
            .map_err(|e| ForecastError::Training(e.to_string()))?;
        let names = feature_names();
        let factor_of = feature_factor();
        let factors = factor_names();
        let mut per_factor = vec![0.0; factors.len()];
        for (i, w) in per_feature.iter().enumerate() {
            per_factor[factor_of[i]] += w;
        }
        let mut importances: Vec<Importance> = factors
            .iter()
            .zip(per_factor)
            .map(|(f, w)| Importance {
                factor: f.to_string(),
                weight: w,
            })
            .collect();
        importances.sort_by(|a, b| b.weight.total_cmp(&a.weight));
        let feature_importances = names
            .iter()
            .zip(&per_feature)
            .map(|(n, w)| Importance {
                factor: n.clone(),
                weight: *w,
            })
            .collect();
        let n = y.len() as f64;
        let training = TrainingInfo {
            n_events: data.events.len(),
            trained_at: now_rfc3339(),
            vigie_version: env!("CARGO_PKG_VERSION").to_string(),
            forest: FOREST_CRATE.to_string(),
            options: opts,
            n_features: n_features(),
            oob_r2,
            train_seconds,
            score_mean: y.iter().sum::<f64>() / n,
            score_min: y.iter().copied().fold(f64::INFINITY, f64::min),
            score_max: y.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        };
        let trees = extract_trees(&forest)?;
        let sample = &rows[..rows.len().min(CHECK_ROWS)];
        let check = forest
            .predict(&to_matrix(sample)?)
            .map_err(|e| ForecastError::Training(e.to_string()))?;
        let file = ModelFile {
            format: MODEL_FORMAT.to_string(),
            version: MODEL_VERSION,
            schema: SchemaInfo::current(),
            training,
            importances,
            feature_importances,
            events: data.events.clone(),
            trees,
            check,
        };
        let mut model = Self::from_file(file, "trained forest")?;
        model.fitted = Some(forest);
        Ok(model)
    }

    fn from_file(file: ModelFile, origin: &str) -> Result<ForecastModel, ForecastError> {
        let bad = |reason: String| ForecastError::ModelFile {
            path: origin.to_string(),
            reason,
        };
        if file.trees.is_empty() {
            return Err(bad("the forest has no trees".into()));
        }
        for (t, tree) in file.trees.iter().enumerate() {
            tree.check().map_err(|e| bad(format!("tree {t}: {e}")))?;
        }
        let rows: Vec<Vec<f64>> = file.events.iter().map(|e| encode(&e.factors)).collect();
        let members = file
            .trees
            .iter()
            .map(|tree| {
                let mut m: Vec<Vec<u32>> = vec![Vec::new(); tree.value.len()];
                for (i, x) in rows.iter().enumerate() {
                    m[tree.leaf(x)].push(i as u32);
                }
                m
            })
            .collect();
        let model = ForecastModel {
            file,
            members,
            fitted: None,
        };
        // The trees must give the predictions the fitted forest gave at training, exactly.
        let n_check = model.file.check.len();
        if n_check != rows.len().min(CHECK_ROWS) {
            return Err(bad("the check predictions do not match the events".into()));
        }
        for (x, expected) in rows.iter().zip(&model.file.check) {
            let ours = model.forest_predict(x);
            if (ours - expected).abs() > 1e-9 * expected.abs().max(1.0) {
                return Err(bad(format!(
                    "the trees predict {ours} where the fitted forest predicted {expected}: the trees were not read right"
                )));
            }
        }
        Ok(model)
    }

    /// The leaf of `x` in every tree (for tests of the proximity).
    #[cfg(test)]
    pub(crate) fn leaves(&self, x: &[f64]) -> Vec<usize> {
        self.file.trees.iter().map(|t| t.leaf(x)).collect()
    }

    /// Mean of the trees' leaf values (equal to smartcore's `predict`).
    fn forest_predict(&self, x: &[f64]) -> f64 {
        let sum: f64 = self.file.trees.iter().map(|t| t.value[t.leaf(x)]).sum();
        sum / self.file.trees.len() as f64
    }

    /// Writes the model as JSON (format, version, schema, training metadata, importances, the
    /// past events and the forest).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), ForecastError> {
        let path = path.as_ref();
        let io = |source| ForecastError::Io {
            path: path.display().to_string(),
            source,
        };
        let tmp = path.with_extension("tmp");
        let f = std::fs::File::create(&tmp).map_err(io)?;
        let mut w = BufWriter::new(f);
        serde_json::to_writer(&mut w, &self.file).map_err(|e| ForecastError::ModelFile {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        w.flush().map_err(io)?;
        drop(w);
        std::fs::rename(&tmp, path).map_err(io)
    }

    /// Reads a model written by [`ForecastModel::save`]; refuses another format or version, or a
    /// schema other than this build's (retrain then).
    pub fn load(path: impl AsRef<Path>) -> Result<ForecastModel, ForecastError> {
        let path = path.as_ref();
        let name = path.display().to_string();
        let bad = |reason: String| ForecastError::ModelFile {
            path: name.clone(),
            reason,
        };
        let f = std::fs::File::open(path).map_err(|source| ForecastError::Io {
            path: name.clone(),
            source,
        })?;
        #[derive(Deserialize)]
        struct Head {
            format: Option<String>,
            version: Option<u32>,
        }
        let value: serde_json::Value = serde_json::from_reader(BufReader::new(f))
            .map_err(|e| bad(format!("not a JSON model file: {e}")))?;
        let head: Head = serde_json::from_value(value.clone()).map_err(|e| bad(e.to_string()))?;
        if head.format.as_deref() != Some(MODEL_FORMAT) {
            return Err(bad(format!("not a {MODEL_FORMAT} file")));
        }
        if head.version != Some(MODEL_VERSION) {
            return Err(bad(format!(
                "model version {:?}, this build reads version {MODEL_VERSION}: retrain",
                head.version
            )));
        }
        let file: ModelFile = serde_json::from_value(value).map_err(|e| bad(e.to_string()))?;
        if file.schema != SchemaInfo::current() {
            return Err(bad(
                "trained on other factors or categories than this build's: retrain".into(),
            ));
        }
        Self::from_file(file, &name)
    }

    /// Training metadata, schema and importances.
    pub fn summary(&self) -> ModelSummary {
        ModelSummary {
            format: self.file.format.clone(),
            version: self.file.version,
            training: self.file.training.clone(),
            schema: self.file.schema.clone(),
            importances: self.file.importances.clone(),
            feature_importances: self.file.feature_importances.clone(),
        }
    }

    /// Training metadata.
    pub fn training(&self) -> &TrainingInfo {
        &self.file.training
    }

    /// Feature importances per factor, largest first.
    pub fn importances(&self) -> &[Importance] {
        &self.file.importances
    }

    /// The past events the model learnt from.
    pub fn events(&self) -> &[PastEvent] {
        &self.file.events
    }

    /// Proximity of `x` to every training event: for each, the number of trees in which both
    /// fall in the same leaf.
    fn proximity_counts(&self, x: &[f64]) -> HashMap<u32, u32> {
        let mut counts: HashMap<u32, u32> = HashMap::new();
        for (tree, members) in self.file.trees.iter().zip(&self.members) {
            for &e in &members[tree.leaf(x)] {
                *counts.entry(e).or_insert(0) += 1;
            }
        }
        counts
    }

    /// Forecast for a planned event: the `k` most similar past events (random-forest
    /// proximity), the transferred score, the forest's prediction and the factor importances.
    pub fn predict(&self, event: &PlannedEvent, k: usize) -> Forecast {
        let k = k.max(1);
        let x = encode(&event.factors);
        let n_trees = self.file.trees.len() as f64;
        let mut near: Vec<(u32, u32)> = self.proximity_counts(&x).into_iter().collect();
        // Most trees in common first; ties by position in the history (deterministic).
        near.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        near.truncate(k);
        let total: f64 = near.iter().map(|(_, c)| *c as f64).sum();
        let forest_score = self.forest_predict(&x);
        let score = if total > 0.0 {
            near.iter()
                .map(|(e, c)| *c as f64 * self.file.events[*e as usize].score)
                .sum::<f64>()
                / total
        } else {
            forest_score
        };
        let neighbours = near
            .iter()
            .enumerate()
            .map(|(rank, (e, c))| {
                let past = &self.file.events[*e as usize];
                Neighbour {
                    rank: rank + 1,
                    id: past.id.clone(),
                    similarity: *c as f64 / n_trees,
                    weight: if total > 0.0 { *c as f64 / total } else { 0.0 },
                    score: past.score,
                    date: past.date.clone(),
                    factors: past.factors.clone(),
                }
            })
            .collect();
        Forecast {
            event: event.clone(),
            score,
            forest_score,
            k,
            neighbours,
            importances: self.file.importances.clone(),
        }
    }

    /// The forest's predictions for several events: through smartcore's own `predict` when the
    /// model was trained in this process, else by walking the stored trees (same numbers).
    pub fn forest_predict_batch(&self, events: &[PlannedEvent]) -> Result<Vec<f64>, ForecastError> {
        let rows: Vec<Vec<f64>> = events.iter().map(|e| encode(&e.factors)).collect();
        match &self.fitted {
            Some(forest) => forest
                .predict(&to_matrix(&rows)?)
                .map_err(|e| ForecastError::Training(e.to_string())),
            None => Ok(rows.iter().map(|x| self.forest_predict(x)).collect()),
        }
    }
}

/// Held-out evaluation of a forest: accuracy and timings.
#[derive(Debug, Clone, Serialize)]
pub struct Evaluation {
    pub n_train: usize,
    pub n_test: usize,
    pub options: TrainOptions,
    pub k: usize,
    /// R² of the forest's own predictions on the held-out events.
    pub r2_forest: f64,
    /// R² of the transferred scores (k most similar past events) on the held-out events.
    pub r2_transfer: f64,
    pub mae_forest: f64,
    pub mae_transfer: f64,
    pub oob_r2: Option<f64>,
    /// Fitting the forest (smartcore), seconds.
    pub train_seconds: f64,
    /// Whole training: fit + OOB + proximity index, seconds.
    pub train_total_seconds: f64,
    /// smartcore's batch `predict` on the held-out events, seconds.
    pub predict_seconds: f64,
    /// Forecasts with neighbours and transfer for every held-out event, seconds.
    pub transfer_seconds: f64,
}

/// Trains on `train`, predicts `test`, and measures.
pub fn evaluate(
    train: &Dataset,
    test: &Dataset,
    opts: &TrainOptions,
    k: usize,
) -> Result<(ForecastModel, Evaluation), ForecastError> {
    let started = Instant::now();
    let model = ForecastModel::train(train, opts)?;
    let train_total_seconds = started.elapsed().as_secs_f64();
    let planned: Vec<PlannedEvent> = test.events.iter().map(PlannedEvent::from_past).collect();
    let y: Vec<f64> = test.events.iter().map(|e| e.score).collect();
    let started = Instant::now();
    let forest = model.forest_predict_batch(&planned)?;
    let predict_seconds = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let transfer: Vec<f64> = planned.iter().map(|p| model.predict(p, k).score).collect();
    let transfer_seconds = started.elapsed().as_secs_f64();
    let mae = |p: &[f64]| y.iter().zip(p).map(|(a, b)| (a - b).abs()).sum::<f64>() / y.len() as f64;
    let eval = Evaluation {
        n_train: train.len(),
        n_test: test.len(),
        options: model.training().options.clone(),
        k: k.max(1),
        r2_forest: r2(&y, &forest),
        r2_transfer: r2(&y, &transfer),
        mae_forest: mae(&forest),
        mae_transfer: mae(&transfer),
        oob_r2: model.training().oob_r2,
        train_seconds: model.training().train_seconds,
        train_total_seconds,
        predict_seconds,
        transfer_seconds,
    };
    Ok((model, eval))
}
