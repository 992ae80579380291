//! The planner: from a config, the opened checkpoints and the method's descriptor, the list
//! of output tensors with their inputs, resolved parameters, dtypes and seeds.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use mosaic_abi::{AlgorithmDescriptor, ParamMap, ParamScope, ParamValue, RngSeed};
use mosaic_tensor::DType;
use serde::{Serialize, Serializer};

use crate::config::{resolve_model_path, MergeConfig, Parameters, TokenizerSource};
use crate::error::{config_err, InputShape, MergeError, Result};
use crate::io::Checkpoint;
use crate::params::{self, layer_span, layer_t};

/// The seed used when the user gives none (`--seed`), so that random methods are
/// reproducible by default.
pub const DEFAULT_SEED: u64 = 0x6d6f_7361_6963; // "mosaic"

/// Names an absent `lm_head.weight` falls back to, as mergekit's `tied_names` do for
/// checkpoints with `tie_word_embeddings` (the output head is the input embedding).
pub const TIED_EMBEDDING_NAMES: [&str; 3] = [
    "model.embed_tokens.weight",
    "transformer.wte.weight",
    "embed_tokens.weight",
];

/// FNV-1a (64-bit) of a tensor name: a stable hash (unlike std's `DefaultHasher`) for
/// deriving per-tensor seeds.
pub fn fnv1a64(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The seed a tensor gets: `RngSeed::from_u64(seed).derive(fnv1a64(name))`.
pub fn tensor_seed(seed: u64, name: &str) -> RngSeed {
    RngSeed::from_u64(seed).derive(fnv1a64(name))
}

/// One opened input model.
pub struct LoadedModel {
    /// The reference as written in the config (`./ft1`).
    pub reference: String,
    /// The resolved folder.
    pub path: PathBuf,
    /// Its tensors, memory-mapped.
    pub checkpoint: Checkpoint,
    num_layers: usize,
}

impl LoadedModel {
    /// The number of layers found in its tensor names (highest layer index + 1).
    pub fn num_layers(&self) -> usize {
        self.num_layers
    }

    fn file_label(&self, tensor: &str) -> String {
        self.checkpoint
            .file_of(tensor)
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| self.path.display().to_string())
    }
}

/// The opened models of a config, each once.
pub struct ModelSet {
    models: Vec<LoadedModel>,
    base_dir: PathBuf,
}

impl ModelSet {
    /// Open every model the config names, resolving relative paths against `base_dir` (pass
    /// the working folder to behave as mergekit does).
    pub fn open(config: &MergeConfig, base_dir: &Path) -> Result<ModelSet> {
        let mut keyed: Vec<(String, &str)> = Vec::new();
        if let Some(b) = &config.base_model {
            keyed.push(("base_model".into(), b));
        }
        for (i, m) in config.models.iter().flatten().enumerate() {
            keyed.push((format!("models[{i}].model"), &m.model));
        }
        for (k, s) in config.slices.iter().flatten().enumerate() {
            if let Some(b) = &s.base_model {
                keyed.push((format!("slices[{k}].base_model"), b));
            }
            for (j, src) in s.sources.iter().enumerate() {
                keyed.push((format!("slices[{k}].sources[{j}].model"), &src.model));
            }
        }
        let mut models: Vec<LoadedModel> = Vec::new();
        for (key, reference) in keyed {
            if models.iter().any(|m| m.reference == reference) {
                continue;
            }
            let path = resolve_model_path(&key, reference, base_dir)?;
            let checkpoint = Checkpoint::open(&path).map_err(|source| MergeError::Model {
                model: reference.to_string(),
                path: path.clone(),
                source: Box::new(source),
            })?;
            let num_layers = checkpoint
                .names()
                .iter()
                .filter_map(|n| params::layer_index(n))
                .max()
                .map_or(0, |m| m + 1);
            models.push(LoadedModel {
                reference: reference.to_string(),
                path,
                checkpoint,
                num_layers,
            });
        }
        Ok(ModelSet {
            models,
            base_dir: base_dir.to_path_buf(),
        })
    }

    /// The models, in the order the config first names them.
    pub fn models(&self) -> &[LoadedModel] {
        &self.models
    }

    /// The index of a model by its config reference.
    pub fn index_of(&self, reference: &str) -> Option<usize> {
        self.models.iter().position(|m| m.reference == reference)
    }

    fn idx(&self, reference: &str) -> usize {
        self.index_of(reference)
            .expect("every referenced model was opened")
    }
}

fn ser_dtype<S: Serializer>(d: &DType, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(d.safetensors_name())
}

fn ser_opt_dtype<S: Serializer>(d: &Option<DType>, s: S) -> std::result::Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_str(d.safetensors_name()),
        None => s.serialize_none(),
    }
}

fn param_json(v: &ParamValue) -> serde_json::Value {
    match v {
        ParamValue::F64(x) => serde_json::json!(x),
        ParamValue::I64(x) => serde_json::json!(x),
        ParamValue::Bool(x) => serde_json::json!(x),
        ParamValue::Str(x) => serde_json::json!(x.as_str()),
        ParamValue::F64List(x) => serde_json::json!(x.as_slice()),
    }
}

fn ser_params<S: Serializer>(p: &ParamMap, s: S) -> std::result::Result<S::Ok, S::Error> {
    let m: serde_json::Map<String, serde_json::Value> = p
        .iter()
        .map(|(k, v)| (k.to_string(), param_json(v)))
        .collect();
    m.serialize(s)
}

fn ser_params_vec<S: Serializer>(p: &[ParamMap], s: S) -> std::result::Result<S::Ok, S::Error> {
    let v: Vec<serde_json::Map<String, serde_json::Value>> = p
        .iter()
        .map(|p| {
            p.iter()
                .map(|(k, v)| (k.to_string(), param_json(v)))
                .collect()
        })
        .collect();
    v.serialize(s)
}

fn ser_seed<S: Serializer>(seed: &RngSeed, s: S) -> std::result::Result<S::Ok, S::Error> {
    let hex: String = seed.bytes.iter().map(|b| format!("{b:02x}")).collect();
    s.serialize_str(&hex)
}

/// One input of a planned tensor.
#[derive(Clone, Debug, Serialize)]
pub struct PlannedInput {
    /// Index into [`Plan::inputs`].
    pub model: usize,
    /// The tensor name in that model (differs from the output name for slices and for tied
    /// embeddings).
    pub tensor: String,
    /// Its dtype on disk.
    #[serde(serialize_with = "ser_dtype")]
    pub dtype: DType,
}

/// One output tensor.
#[derive(Clone, Debug, Serialize)]
pub struct PlannedTensor {
    /// The output name.
    pub name: String,
    /// The shape (every input's shape).
    pub shape: Vec<usize>,
    /// The dtype written.
    #[serde(serialize_with = "ser_dtype")]
    pub dtype: DType,
    /// The dtype the method computes in (`MergeCall::compute_dtype`).
    #[serde(serialize_with = "ser_dtype")]
    pub compute_dtype: DType,
    /// The base model's tensor, if the merge has a base.
    pub base: Option<PlannedInput>,
    /// The models' tensors (`MergeCall::models`), in config order.
    pub models: Vec<PlannedInput>,
    /// Index into `models` of the base, when the base is listed among them.
    pub base_index: Option<usize>,
    /// Resolved per-model parameters, one map per entry of `models`.
    #[serde(serialize_with = "ser_params_vec")]
    pub model_params: Vec<ParamMap>,
    /// Resolved global parameters.
    #[serde(serialize_with = "ser_params")]
    pub params: ParamMap,
    /// The seed for this tensor.
    #[serde(serialize_with = "ser_seed")]
    pub seed: RngSeed,
    /// Non-float tensors (integer buffers) are copied from the first input, not merged; the
    /// inputs must agree bit for bit.
    pub copy_only: bool,
}

impl PlannedTensor {
    /// Size of the output tensor in bytes.
    pub fn out_bytes(&self) -> u64 {
        (self.shape.iter().product::<usize>() * self.dtype.size_of()) as u64
    }
}

/// An input model of the plan.
#[derive(Clone, Debug, Serialize)]
pub struct PlanInput {
    /// The reference as written in the config.
    pub reference: String,
    /// The resolved folder.
    pub path: PathBuf,
}

/// Options for planning.
#[derive(Clone, Debug, Default)]
pub struct PlanOptions {
    /// The user seed (`--seed`); [`DEFAULT_SEED`] when `None`.
    pub seed: Option<u64>,
}

/// A merge plan: what every output tensor is made of. `Display` prints it for `--dry-run`;
/// `serde` serializes it as JSON for `--dry-run --json`.
#[derive(Serialize)]
pub struct Plan {
    /// The merge method.
    pub method: String,
    /// The user seed the per-tensor seeds derive from.
    pub seed: u64,
    /// The input models.
    pub inputs: Vec<PlanInput>,
    /// The output tensors, in the order they are laid out in the shards.
    pub tensors: Vec<PlannedTensor>,
    /// Where `config.json` comes from (index into `inputs`): the base, else the first model.
    pub config_from: Option<usize>,
    /// Where the tokenizer files come from.
    pub tokenizer_from: Option<PathBuf>,
    /// `torch_dtype` written to the output `config.json` (`out_dtype`, else `dtype`).
    #[serde(serialize_with = "ser_opt_dtype")]
    pub config_dtype: Option<DType>,
    /// `num_hidden_layers` written to the output `config.json` when slices change it.
    pub num_layers: Option<usize>,
    /// Things the user should know (dtype conversions, tied embeddings, ignored keys).
    pub notes: Vec<String>,
    /// Permutations aligning each model (index into `inputs`) to the base, when the config
    /// says `align: weight_matching`.
    pub alignment: BTreeMap<usize, crate::align::Permutations>,
    #[serde(skip)]
    pub(crate) models: Arc<ModelSet>,
    #[serde(skip)]
    pub(crate) config_yaml: String,
    #[serde(skip)]
    pub(crate) chat_template: Option<String>,
}

impl Plan {
    /// Open the config's models (paths relative to `base_dir`) and plan the merge.
    pub fn build(
        config: &MergeConfig,
        base_dir: &Path,
        descriptor: &AlgorithmDescriptor,
        options: &PlanOptions,
    ) -> Result<Plan> {
        let models = ModelSet::open(config, base_dir)?;
        Plan::with_models(config, models, descriptor, options)
    }

    /// Plan the merge over already-opened models.
    pub fn with_models(
        config: &MergeConfig,
        models: ModelSet,
        descriptor: &AlgorithmDescriptor,
        options: &PlanOptions,
    ) -> Result<Plan> {
        Planner::new(
            config,
            &models,
            descriptor,
            options.seed.unwrap_or(DEFAULT_SEED),
        )?
        .run()
        .map(|p| p.finish(config, models))?
        .aligned(config)
    }

    /// Compute the `align: weight_matching` permutations of every non-base model.
    fn aligned(mut self, config: &MergeConfig) -> Result<Plan> {
        if config.align.is_none() {
            return Ok(self);
        }
        let base_ref = config
            .base_model
            .as_ref()
            .expect("validated: align needs a base");
        let models = self.models.models();
        let base = models
            .iter()
            .position(|m| &m.reference == base_ref)
            .expect("the base model is opened");
        let opts = crate::align::AlignOptions::from_model_dir(&models[base].path)?;
        for (i, m) in models.iter().enumerate() {
            if i == base {
                continue;
            }
            let perms =
                crate::align::weight_matching(&models[base].checkpoint, &m.checkpoint, &opts)?;
            self.notes.push(format!(
                "align: `{}` {} to match the base ({} layers)",
                m.reference,
                if perms.is_identity() {
                    "needs no permutation"
                } else {
                    "permuted"
                },
                perms.layers.len()
            ));
            self.alignment.insert(i, perms);
        }
        Ok(self)
    }

    /// Total bytes of the output tensors.
    pub fn total_bytes(&self) -> u64 {
        self.tensors.iter().map(PlannedTensor::out_bytes).sum()
    }

    /// The opened input models.
    pub fn model_set(&self) -> &ModelSet {
        &self.models
    }

    /// Parameters for the method's constructor (`PluginMod::new_merge`): the global
    /// parameters resolved for the first planned tensor. Per-tensor values (gradients,
    /// filters) always reach the method through `MergeCall::params`.
    pub fn constructor_params(&self) -> ParamMap {
        self.tensors
            .first()
            .map(|t| t.params.clone())
            .unwrap_or_default()
    }

    /// The plan as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a plan always serializes")
    }
}

fn fmt_params(p: &ParamMap) -> String {
    p.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "merge method: {}", self.method)?;
        writeln!(f, "seed: {}", self.seed)?;
        writeln!(f, "inputs:")?;
        for (i, m) in self.inputs.iter().enumerate() {
            writeln!(f, "  [{i}] {} ({})", m.reference, m.path.display())?;
        }
        writeln!(
            f,
            "tensors: {} ({} bytes)",
            self.tensors.len(),
            self.total_bytes()
        )?;
        for t in &self.tensors {
            let r = |i: &PlannedInput| {
                let m = &self.inputs[i.model].reference;
                if i.tensor == t.name {
                    format!("{m} {}", i.dtype)
                } else {
                    format!("{m}:{} {}", i.tensor, i.dtype)
                }
            };
            write!(
                f,
                "  {} {:?} {} (compute {})",
                t.name, t.shape, t.dtype, t.compute_dtype
            )?;
            if t.copy_only {
                write!(f, " copy")?;
            }
            writeln!(f)?;
            if let Some(b) = &t.base {
                writeln!(f, "    base: {}", r(b))?;
            }
            for (i, m) in t.models.iter().enumerate() {
                let p = fmt_params(&t.model_params[i]);
                let tag = if t.base_index == Some(i) {
                    " (base)"
                } else {
                    ""
                };
                writeln!(f, "    model: {}{tag} {{{p}}}", r(m))?;
            }
            if !t.params.is_empty() {
                writeln!(f, "    params: {{{}}}", fmt_params(&t.params))?;
            }
        }
        for n in &self.notes {
            writeln!(f, "note: {n}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A set of inputs merged together: the whole `models` list, or one slice.
struct Group<'c> {
    key: String,
    /// (model index, per-source parameters, layer range)
    sources: Vec<(usize, Option<&'c Parameters>, [usize; 2])>,
    /// The base model's index in the model set, when it is not among `sources`.
    extra_base: Option<usize>,
    /// Index into `sources` of the base model.
    base_index: Option<usize>,
    slice_params: Option<&'c Parameters>,
}

struct Planner<'a> {
    config: &'a MergeConfig,
    models: &'a ModelSet,
    descriptor: &'a AlgorithmDescriptor,
    seed: u64,
    compute: Option<DType>,
    out: Option<DType>,
    tensors: Vec<PlannedTensor>,
    notes: Vec<String>,
    num_layers: Option<usize>,
}

struct PlanParts {
    method: String,
    seed: u64,
    tensors: Vec<PlannedTensor>,
    notes: Vec<String>,
    num_layers: Option<usize>,
    config_from: Option<usize>,
    tokenizer_from: Option<PathBuf>,
    config_dtype: Option<DType>,
}

impl PlanParts {
    fn finish(self, config: &MergeConfig, models: ModelSet) -> Plan {
        Plan {
            method: self.method,
            seed: self.seed,
            inputs: models
                .models
                .iter()
                .map(|m| PlanInput {
                    reference: m.reference.clone(),
                    path: m.path.clone(),
                })
                .collect(),
            tensors: self.tensors,
            config_from: self.config_from,
            tokenizer_from: self.tokenizer_from,
            config_dtype: self.config_dtype,
            num_layers: self.num_layers,
            notes: self.notes,
            alignment: BTreeMap::new(),
            models: Arc::new(models),
            config_yaml: config.to_yaml(),
            chat_template: config.chat_template.clone(),
        }
    }
}

fn promote(dtypes: &[DType]) -> DType {
    let first = dtypes[0];
    if dtypes.iter().all(|d| *d == first) {
        first
    } else if dtypes.contains(&DType::F64) {
        DType::F64
    } else {
        // torch.promote_types: f16 with bf16 (or with f32) gives f32.
        DType::F32
    }
}

impl<'a> Planner<'a> {
    fn new(
        config: &'a MergeConfig,
        models: &'a ModelSet,
        descriptor: &'a AlgorithmDescriptor,
        seed: u64,
    ) -> Result<Planner<'a>> {
        config.validate()?;
        if descriptor.name.as_str() != config.merge_method {
            return Err(config_err(
                "merge_method",
                format!(
                    "the config asks for `{}` but the method given is `{}`",
                    config.merge_method, descriptor.name
                ),
            ));
        }
        params::check_known(descriptor, &config.parameter_maps()).map_err(|(key, msg)| {
            MergeError::Param {
                method: descriptor.name.to_string(),
                tensor: None,
                model: None,
                message: format!("`{key}`: {msg}"),
            }
        })?;
        Ok(Planner {
            config,
            models,
            descriptor,
            seed,
            compute: config.dtype()?,
            out: config.out_dtype()?,
            tensors: Vec::new(),
            notes: Vec::new(),
            num_layers: None,
        })
    }

    fn requires_base(&self) -> bool {
        self.descriptor.has_tag("requires_base")
    }

    fn run(mut self) -> Result<PlanParts> {
        if self.config.models.is_some() {
            self.plan_models()?;
        } else {
            self.plan_slices()?;
        }
        if self.descriptor.has_tag("single_input") {
            if let Some(t) = self.tensors.iter().find(|t| t.models.len() > 1) {
                return Err(MergeError::Incompatible(format!(
                    "merge method `{}` takes one input per tensor, but tensor `{}` has {}",
                    self.descriptor.name,
                    t.name,
                    t.models.len()
                )));
            }
        }
        let donor = self.config.donor_model().map(|d| self.models.idx(&d));
        let tokenizer_from = match self.config.tokenizer_source()? {
            TokenizerSource::Donor => donor.map(|d| self.models.models[d].path.clone()),
            TokenizerSource::Base => self
                .config
                .base_model
                .as_ref()
                .map(|b| self.models.models[self.models.idx(b)].path.clone()),
            TokenizerSource::Model(m) => Some(match self.models.index_of(&m) {
                Some(i) => self.models.models[i].path.clone(),
                None => resolve_model_path("tokenizer_source", &m, &self.models.base_dir)?,
            }),
        };
        Ok(PlanParts {
            method: self.descriptor.name.to_string(),
            seed: self.seed,
            tensors: self.tensors,
            notes: self.notes,
            num_layers: self.num_layers,
            config_from: donor,
            tokenizer_from,
            config_dtype: self.out.or(self.compute),
        })
    }

    fn plan_models(&mut self) -> Result<()> {
        let cfg = self.config;
        let entries = cfg.models.as_ref().expect("models mode");
        let base = cfg.base_model.as_ref().map(|b| self.models.idx(b));
        if self.requires_base() && base.is_none() {
            return Err(config_err(
                "base_model",
                format!(
                    "merge method `{}` requires a base model",
                    self.descriptor.name
                ),
            ));
        }
        let mut sources = Vec::new();
        let mut base_index = None;
        for (i, m) in entries.iter().enumerate() {
            let idx = self.models.idx(&m.model);
            if Some(idx) == base {
                base_index = Some(i);
            }
            let n = self.models.models[idx].num_layers;
            sources.push((idx, m.parameters.as_ref(), [0, n]));
        }
        // Methods tagged `base_is_input` (linear, passthrough) treat the base as one more
        // input, as mergekit does: a base that `models` does not list is appended, its
        // per-model parameters coming from the top-level `parameters`.
        if self.descriptor.has_tag("base_is_input") && base_index.is_none() {
            if let Some(b) = base {
                let n = self.models.models[b].num_layers;
                base_index = Some(sources.len());
                sources.push((b, None, [0, n]));
                self.notes.push(format!(
                    "base model `{}` is merged as one more input (method `{}`)",
                    self.models.models[b].reference, self.descriptor.name
                ));
            }
        }
        let group = Group {
            key: "models".into(),
            sources,
            extra_base: if base_index.is_none() { base } else { None },
            base_index,
            slice_params: None,
        };
        // All inputs must have the same number of layers (mergekit: "All inputs to a slice
        // must contain the same number of layers").
        let all: Vec<usize> = group
            .sources
            .iter()
            .map(|s| s.0)
            .chain(group.extra_base)
            .collect();
        let n = self.models.models[all[0]].num_layers;
        if let Some(&o) = all.iter().find(|&&i| self.models.models[i].num_layers != n) {
            return Err(MergeError::Incompatible(format!(
                "model `{}` has {} layers but `{}` has {n}",
                self.models.models[o].reference,
                self.models.models[o].num_layers,
                self.models.models[all[0]].reference
            )));
        }
        let reference = &self.models.models[base.unwrap_or(group.sources[0].0)];
        let mut names = reference.checkpoint.names();
        if !reference.checkpoint.contains("lm_head.weight")
            && all
                .iter()
                .any(|&i| self.models.models[i].checkpoint.contains("lm_head.weight"))
        {
            self.notes.push(format!(
                "`{}` has tied embeddings (no lm_head.weight): its model.embed_tokens.weight stands in for lm_head.weight",
                reference.reference
            ));
            names.push("lm_head.weight".to_string());
        }
        for name in names {
            let t = match layer_span(&name) {
                Some(s) => layer_t(s.index, n),
                None => 0.0,
            };
            let in_names = vec![name.clone(); group.sources.len()];
            let base_name = group.extra_base.map(|_| name.clone());
            let pt = self.plan_tensor(&group, &name, &in_names, base_name.as_deref(), t)?;
            self.tensors.push(pt);
        }
        Ok(())
    }

    fn slice_group(&mut self, k: usize) -> Result<Group<'a>> {
        let slice = &self.config.slices.as_ref().expect("slices mode")[k];
        let base_ref = slice
            .base_model
            .as_ref()
            .or(self.config.base_model.as_ref());
        let base = base_ref.map(|b| self.models.idx(b));
        let mut sources = Vec::new();
        let mut base_index = None;
        for (j, s) in slice.sources.iter().enumerate() {
            let idx = self.models.idx(&s.model);
            if Some(idx) == base {
                base_index = Some(j);
            }
            let m = &self.models.models[idx];
            if s.layer_range[1] > m.num_layers {
                return Err(config_err(
                    format!("slices[{k}].sources[{j}].layer_range"),
                    format!(
                        "[{}, {}] goes past the {} layers of model `{}`",
                        s.layer_range[0], s.layer_range[1], m.num_layers, s.model
                    ),
                ));
            }
            sources.push((idx, s.parameters.as_ref(), s.layer_range));
        }
        if base.is_some() && base_index.is_none() {
            // mergekit does not add the base to a slice's sources.
            if self.requires_base() {
                return Err(config_err(
                    format!("slices[{k}].sources"),
                    format!(
                        "the base model `{}` must be one of the slice's sources",
                        base_ref.expect("base set")
                    ),
                ));
            }
            self.notes.push(format!(
                "slices[{k}]: base model `{}` is not among the sources; merging without a base",
                base_ref.expect("base set")
            ));
        } else if base.is_none() && self.requires_base() {
            return Err(config_err(
                "base_model",
                format!(
                    "merge method `{}` requires a base model",
                    self.descriptor.name
                ),
            ));
        }
        if slice.residual_weight.is_some() {
            self.notes.push(format!(
                "slices[{k}].residual_weight is ignored (as by mergekit 0.1.5)"
            ));
        }
        Ok(Group {
            key: format!("slices[{k}]"),
            sources,
            extra_base: None,
            base_index,
            slice_params: slice.parameters.as_ref(),
        })
    }

    fn plan_slices(&mut self) -> Result<()> {
        let slices = self.config.slices.as_ref().expect("slices mode");
        let groups: Vec<Group<'a>> = (0..slices.len())
            .map(|k| self.slice_group(k))
            .collect::<Result<_>>()?;
        let first = &self.models.models[groups[0].sources[0].0];
        let last = &self.models.models[groups[groups.len() - 1].sources[0].0];
        // Non-layer tensors: embeddings come before the layers and take the first slice's
        // inputs; the rest (final norm, lm_head) come after and take the last slice's.
        let is_pre = |n: &str| {
            n.contains("embed")
                || n.contains(".wte.")
                || n.contains(".wpe.")
                || n.starts_with("wte.")
        };
        let pre: Vec<String> = first
            .checkpoint
            .names()
            .into_iter()
            .filter(|n| layer_span(n).is_none() && is_pre(n))
            .collect();
        let mut post: Vec<String> = last
            .checkpoint
            .names()
            .into_iter()
            .filter(|n| layer_span(n).is_none() && !is_pre(n))
            .collect();
        let last_group = &groups[groups.len() - 1];
        if !post.iter().any(|n| n == "lm_head.weight")
            && last_group.sources.iter().any(|s| {
                self.models.models[s.0]
                    .checkpoint
                    .contains("lm_head.weight")
            })
        {
            post.push("lm_head.weight".into());
        }
        for name in &pre {
            let in_names = vec![name.clone(); groups[0].sources.len()];
            let pt = self.plan_tensor(&groups[0], name, &in_names, None, 0.0)?;
            self.tensors.push(pt);
        }
        let mut out_layer = 0;
        for g in &groups {
            let len = g.sources[0].2[1] - g.sources[0].2[0];
            for idx in 0..len {
                let t = layer_t(idx, len);
                let m0 = &self.models.models[g.sources[0].0];
                let in0 = g.sources[0].2[0] + idx;
                let layer_names: Vec<String> = m0
                    .checkpoint
                    .names()
                    .into_iter()
                    .filter(|n| layer_span(n).is_some_and(|s| s.index == in0))
                    .collect();
                for n0 in layer_names {
                    let span = layer_span(&n0).expect("layer tensor");
                    let out_name = span.renumber(&n0, out_layer);
                    let in_names: Vec<String> = g
                        .sources
                        .iter()
                        .map(|s| span.renumber(&n0, s.2[0] + idx))
                        .collect();
                    let pt = self.plan_tensor(g, &out_name, &in_names, None, t)?;
                    self.tensors.push(pt);
                }
                out_layer += 1;
            }
        }
        for name in &post {
            let in_names = vec![name.clone(); last_group.sources.len()];
            let pt = self.plan_tensor(last_group, name, &in_names, None, 0.0)?;
            self.tensors.push(pt);
        }
        if out_layer != first.num_layers {
            self.num_layers = Some(out_layer);
        }
        Ok(())
    }

    /// Find `name` in model `idx`, falling back to the tied embedding for `lm_head.weight`.
    fn input(&mut self, idx: usize, name: &str, out_name: &str) -> Result<PlannedInput> {
        let m = &self.models.models[idx];
        let found = if m.checkpoint.contains(name) {
            Some(name.to_string())
        } else if name.ends_with("lm_head.weight") {
            let tied = TIED_EMBEDDING_NAMES
                .iter()
                .find(|t| m.checkpoint.contains(t))
                .map(|t| t.to_string());
            if let Some(t) = &tied {
                self.notes.push(format!(
                    "`{}` has no `{name}` (tied embeddings): using its `{t}`",
                    m.reference
                ));
            }
            tied
        } else {
            None
        };
        let tensor = found.ok_or_else(|| MergeError::MissingTensor {
            tensor: name.to_string(),
            for_output: (name != out_name).then(|| out_name.to_string()),
            model: m.reference.clone(),
            path: m.path.clone(),
        })?;
        let info = m.checkpoint.info(&tensor).expect("name checked above");
        Ok(PlannedInput {
            model: idx,
            tensor,
            dtype: info.dtype,
        })
    }

    fn shape_of(&self, i: &PlannedInput) -> Vec<usize> {
        self.models.models[i.model]
            .checkpoint
            .info(&i.tensor)
            .expect("planned input exists")
            .shape
            .dims()
            .to_vec()
    }

    fn plan_tensor(
        &mut self,
        group: &Group<'a>,
        out_name: &str,
        in_names: &[String],
        base_name: Option<&str>,
        t: f64,
    ) -> Result<PlannedTensor> {
        let mut models = Vec::with_capacity(group.sources.len());
        for (s, n) in group.sources.iter().zip(in_names) {
            models.push(self.input(s.0, n, out_name)?);
        }
        let base = match (group.extra_base, base_name, group.base_index) {
            (Some(b), Some(n), _) => Some(self.input(b, n, out_name)?),
            (_, _, Some(i)) => Some(models[i].clone()),
            _ => None,
        };
        let all: Vec<&PlannedInput> = models.iter().chain(base.iter()).collect();
        let shape = self.shape_of(all[0]);
        for other in &all[1..] {
            let s = self.shape_of(other);
            if s != shape {
                let a = &self.models.models[all[0].model];
                let b = &self.models.models[other.model];
                return Err(MergeError::ShapeMismatch {
                    tensor: out_name.to_string(),
                    a: Box::new(InputShape {
                        shape,
                        file: a.file_label(&all[0].tensor),
                    }),
                    b: Box::new(InputShape {
                        shape: s,
                        file: b.file_label(&other.tensor),
                    }),
                });
            }
        }
        let dtypes: Vec<DType> = all.iter().map(|i| i.dtype).collect();
        let copy_only = dtypes.iter().any(|d| !d.is_float());
        let (compute, out) = if copy_only {
            if dtypes.iter().any(|d| *d != dtypes[0]) {
                return Err(MergeError::Incompatible(format!(
                    "tensor `{out_name}`: non-float inputs of different dtypes ({})",
                    dtypes
                        .iter()
                        .map(|d| d.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
            (dtypes[0], dtypes[0])
        } else {
            let compute = self.compute.unwrap_or_else(|| promote(&dtypes));
            (compute, self.out.unwrap_or(compute))
        };
        if !copy_only && dtypes.iter().any(|d| *d != dtypes[0]) {
            let list: Vec<String> = all
                .iter()
                .map(|i| format!("{} ({})", i.dtype, self.models.models[i.model].reference))
                .collect();
            self.notes.push(format!(
                "tensor `{out_name}`: inputs have different dtypes [{}]; converted to {compute}",
                list.join(", ")
            ));
        }
        let specs = &self.descriptor.params;
        let method = self.descriptor.name.to_string();
        let top = self.config.parameters.as_ref();
        let global_raw = params::collect(
            specs,
            ParamScope::Global,
            &[group.slice_params, top],
            out_name,
            t,
        );
        let params =
            global_raw
                .resolve(specs, ParamScope::Global)
                .map_err(|e| MergeError::Param {
                    method: method.clone(),
                    tensor: Some(out_name.to_string()),
                    model: None,
                    message: e.to_string(),
                })?;
        let mut model_params = Vec::with_capacity(models.len());
        for (j, (s, input)) in group.sources.iter().zip(&models).enumerate() {
            let raw = params::collect(
                specs,
                ParamScope::PerModel,
                &[s.1, group.slice_params, top],
                &input.tensor,
                t,
            );
            let resolved =
                if group.base_index == Some(j) && !self.descriptor.has_tag("base_is_input") {
                    // mergekit binds "non-base" parameters (weight, density) to the other inputs
                    // only: the base gets what is given plus defaults, and no required ones.
                    let lenient: Vec<_> = specs
                        .iter()
                        .filter(|p| p.default.is_some() || raw.contains(&p.name))
                        .cloned()
                        .collect();
                    raw.resolve(&lenient, ParamScope::PerModel)
                } else {
                    raw.resolve(specs, ParamScope::PerModel)
                };
            model_params.push(resolved.map_err(|e| MergeError::Param {
                method: method.clone(),
                tensor: Some(out_name.to_string()),
                model: Some(format!(
                    "{} ({}[{j}])",
                    self.models.models[s.0].reference,
                    if group.key == "models" {
                        "models".to_string()
                    } else {
                        format!("{}.sources", group.key)
                    }
                )),
                message: e.to_string(),
            })?);
        }
        Ok(PlannedTensor {
            name: out_name.to_string(),
            shape,
            dtype: out,
            compute_dtype: compute,
            base,
            models,
            base_index: group.base_index,
            model_params,
            params,
            seed: tensor_seed(self.seed, out_name),
            copy_only,
        })
    }
}
