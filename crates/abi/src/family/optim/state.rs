//! What an optimizer's state looks like: the declaration ([`StateSpec`]: named buffers of any
//! dtype and shape, named scalars) and the borrowed views a step receives ([`StateBuffer`],
//! [`Scalar`]). The host allocates and owns the state (zeroed buffers, zero scalars) so it can
//! checkpoint it; the optimizer only declares it and updates it in place.

use std::fmt;

use abi_stable::{
    std_types::{RStr, RString, RVec},
    StableAbi,
};
use mosaic_tensor::DType;

use crate::{AbiDType, RError, TensorMut};

/// The kind of a named scalar.
#[repr(u8)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ScalarKind {
    /// A real number (a running sum, a learning-rate maximum).
    F64,
    /// An integer (a counter of refreshes, a subspace index).
    I64,
    /// A flag.
    Bool,
}

impl fmt::Display for ScalarKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ScalarKind::F64 => "f64",
            ScalarKind::I64 => "i64",
            ScalarKind::Bool => "bool",
        })
    }
}

/// The value of a named scalar. The host creates each as [`Scalar::zero`] of its declared
/// kind and keeps it between steps; the optimizer reads and overwrites it in place.
#[repr(C, u8)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq)]
pub enum Scalar {
    /// A real number.
    F64(f64),
    /// An integer.
    I64(i64),
    /// A flag.
    Bool(bool),
}

impl Scalar {
    /// `0.0`, `0` or `false`.
    pub fn zero(kind: ScalarKind) -> Scalar {
        match kind {
            ScalarKind::F64 => Scalar::F64(0.0),
            ScalarKind::I64 => Scalar::I64(0),
            ScalarKind::Bool => Scalar::Bool(false),
        }
    }

    /// The kind of this value.
    pub fn kind(&self) -> ScalarKind {
        match self {
            Scalar::F64(_) => ScalarKind::F64,
            Scalar::I64(_) => ScalarKind::I64,
            Scalar::Bool(_) => ScalarKind::Bool,
        }
    }

    /// The value if it is an `F64`.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Scalar::F64(v) => Some(v),
            _ => None,
        }
    }

    /// The value if it is an `I64`.
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Scalar::I64(v) => Some(v),
            _ => None,
        }
    }

    /// The value if it is a `Bool`.
    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            Scalar::Bool(v) => Some(v),
            _ => None,
        }
    }
}

impl fmt::Display for Scalar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // `{:?}` prints the shortest form that parses back to the same bits.
            Scalar::F64(v) => write!(f, "{v:?}"),
            Scalar::I64(v) => write!(f, "{v}"),
            Scalar::Bool(v) => write!(f, "{v}"),
        }
    }
}

/// One state buffer an optimizer needs for a parameter tensor: its name, element type and
/// shape. The host allocates it zero-filled (8-byte aligned) before the first step.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct BufferSpec {
    /// The name (`exp_avg`, `momentum_buffer`, `preconditioner_left`), `[a-z0-9_]+`.
    pub name: RString,
    /// The element type (`F32` for moments, `U8` for packed 4-bit codes, ...).
    pub dtype: AbiDType,
    /// The shape; need not be the parameter's (SOAP's m×m preconditioner, per-block scales).
    pub shape: RVec<u64>,
}

impl BufferSpec {
    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.shape.iter().product::<u64>() as usize
    }

    /// Size in bytes.
    pub fn nbytes(&self) -> usize {
        self.numel() * DType::from(self.dtype).size_of()
    }
}

/// One named scalar an optimizer keeps for a parameter tensor (created as
/// [`Scalar::zero`] of its kind).
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct ScalarSpec {
    /// The name (`weight_sum`, `lr_max`), `[a-z0-9_]+`; not `step` or `initialized`, which the
    /// host keeps for every tensor.
    pub name: RString,
    /// Its kind.
    pub kind: ScalarKind,
}

/// The state an optimizer needs for one parameter tensor of a given shape: named buffers and
/// named scalars, in the order the step receives them. Besides these, the host keeps a step
/// counter and an `initialized` flag for every tensor (see
/// [`TensorStep`](super::TensorStep)).
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq, Default)]
pub struct StateSpec {
    /// The buffers, in order.
    pub buffers: RVec<BufferSpec>,
    /// The scalars, in order.
    pub scalars: RVec<ScalarSpec>,
}

/// Names the host uses for its own per-tensor counters in checkpoints.
pub const RESERVED_STATE_NAMES: [&str; 2] = ["step", "initialized"];

impl StateSpec {
    /// No state (plain SGD).
    pub fn new() -> StateSpec {
        StateSpec::default()
    }

    /// Add a buffer of any dtype and shape.
    pub fn buffer(mut self, name: &str, dtype: DType, shape: &[u64]) -> StateSpec {
        self.buffers.push(BufferSpec {
            name: name.into(),
            dtype: dtype.into(),
            shape: shape.iter().copied().collect(),
        });
        self
    }

    /// Add an `F32` buffer of the parameter's shape (a moment, a momentum buffer).
    pub fn f32_like(self, name: &str, param_shape: &[u64]) -> StateSpec {
        self.buffer(name, DType::F32, param_shape)
    }

    /// Add a scalar.
    pub fn scalar(mut self, name: &str, kind: ScalarKind) -> StateSpec {
        self.scalars.push(ScalarSpec {
            name: name.into(),
            kind,
        });
        self
    }

    /// Total bytes of the buffers (what the state costs per tensor).
    pub fn nbytes(&self) -> usize {
        self.buffers.iter().map(BufferSpec::nbytes).sum()
    }

    /// Whether every buffer is `F32` with `param_shape`'s element count and there are no
    /// scalars: the state the host may split into chunks along with the parameters for an
    /// optimizer tagged `elementwise`.
    pub fn is_elementwise(&self, param_shape: &[u64]) -> bool {
        let n: u64 = param_shape.iter().product();
        self.scalars.is_empty()
            && self
                .buffers
                .iter()
                .all(|b| b.dtype == AbiDType::F32 && b.shape.iter().product::<u64>() == n)
    }

    /// Check names: non-empty `[a-z0-9_]+`, unique across buffers and scalars, not one of
    /// [`RESERVED_STATE_NAMES`].
    pub fn validate(&self) -> Result<(), RError> {
        let names: Vec<&str> = self
            .buffers
            .iter()
            .map(|b| b.name.as_str())
            .chain(self.scalars.iter().map(|s| s.name.as_str()))
            .collect();
        for (i, name) in names.iter().enumerate() {
            let ok = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if !ok {
                return Err(RError::other(format!(
                    "state name {name:?} must be non-empty [a-z0-9_]+"
                )));
            }
            if RESERVED_STATE_NAMES.contains(name) {
                return Err(RError::other(format!(
                    "state name `{name}` is reserved for the host's per-tensor counters"
                )));
            }
            if names[..i].contains(name) {
                return Err(RError::other(format!("state name `{name}` declared twice")));
            }
        }
        Ok(())
    }
}

/// A host-owned state buffer, borrowed for one step: its declared name and a writable view
/// with the declared dtype and shape.
#[repr(C)]
#[derive(StableAbi, Debug)]
pub struct StateBuffer<'a> {
    /// The buffer's name, as declared in the [`StateSpec`].
    pub name: RStr<'a>,
    /// The buffer (declared dtype and shape, aligned for its dtype).
    pub data: TensorMut<'a>,
}

impl<'a> StateBuffer<'a> {
    /// The buffer as `f32` values; errors name the buffer if it is not aligned `F32`.
    pub fn f32_mut(&mut self) -> Result<&mut [f32], RError> {
        let name = self.name;
        self.data
            .as_f32_mut()
            .ok_or_else(|| RError::input(format!("state buffer `{name}` is not aligned F32")))
    }

    /// The raw bytes (for packed codes such as 4-bit moments).
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        self.data.bytes_mut()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_names_are_checked() {
        let ok = StateSpec::new()
            .f32_like("exp_avg", &[2, 3])
            .buffer("codes", DType::U8, &[3])
            .scalar("weight_sum", ScalarKind::F64);
        ok.validate().unwrap();
        assert_eq!(ok.nbytes(), 24 + 3);
        assert!(!ok.is_elementwise(&[2, 3]));
        assert!(StateSpec::new().f32_like("a", &[6]).is_elementwise(&[2, 3]));
        for bad in [
            StateSpec::new().f32_like("Exp", &[1]),
            StateSpec::new().f32_like("", &[1]),
            StateSpec::new().f32_like("a.b", &[1]),
            StateSpec::new().scalar("step", ScalarKind::I64),
            StateSpec::new()
                .f32_like("m", &[1])
                .scalar("m", ScalarKind::Bool),
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn scalars_print_exactly() {
        let x = 0.1f64 + 0.2;
        assert_eq!(Scalar::F64(x).to_string().parse::<f64>().unwrap(), x);
        assert_eq!(Scalar::zero(ScalarKind::Bool), Scalar::Bool(false));
        assert_eq!(Scalar::I64(3).kind(), ScalarKind::I64);
    }
}
