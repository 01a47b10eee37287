//! Where the guest's stdout/stderr and the host's own error reports go.

use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::p2::OutputStream as _;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;

/// The destination of one host's logs, shared by all of its instances.
#[derive(Clone)]
pub enum GuestOutput {
    /// Straight to this process's stdout and stderr, as `spin up` does.
    Inherit,
    /// Into one in-memory buffer (stdout and stderr interleaved in write order) so tests
    /// can inspect what the app logged.
    Capture(MemoryOutputPipe),
}

impl GuestOutput {
    /// Logs go to this process's stdout and stderr.
    pub fn inherit() -> Self {
        Self::Inherit
    }

    /// Logs are kept in memory for [`GuestOutput::captured`].
    pub fn capture() -> Self {
        // The pipe traps the guest once it holds `capacity` bytes, so it gets no
        // practical limit: a test host lives for one test.
        Self::Capture(MemoryOutputPipe::new(usize::MAX))
    }

    /// Points a new instance's stdout and stderr at this destination.
    pub fn attach(&self, builder: &mut WasiCtxBuilder) {
        match self {
            Self::Inherit => {
                builder.inherit_stdout().inherit_stderr();
            }
            Self::Capture(pipe) => {
                builder.stdout(pipe.clone()).stderr(pipe.clone());
            }
        }
    }

    /// Reports a host-side failure (a trap, a request the guest never answered), as Spin
    /// reports them on its stderr.
    pub fn host_error(&self, message: &str) {
        match self {
            Self::Inherit => eprintln!("spin_host: {message}"),
            Self::Capture(pipe) => {
                // Writing to an unbounded in-memory pipe cannot fail.
                let _ = pipe
                    .clone()
                    .write(format!("spin_host: {message}\n").into_bytes().into());
            }
        }
    }

    /// The captured output so far; empty when logs are inherited.
    // Only the integration tests read captured logs.
    #[allow(dead_code)]
    pub fn captured(&self) -> String {
        match self {
            Self::Inherit => String::new(),
            Self::Capture(pipe) => String::from_utf8_lossy(&pipe.contents()).into_owned(),
        }
    }
}
