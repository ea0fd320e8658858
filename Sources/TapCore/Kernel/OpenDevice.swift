import TapDataPath
import SystemPackage
import TapSystem

/// A device this call made, and the queue that made it.
struct OpenDevice: ~Copyable {
    let queue: TapQueue
    /// The name the kernel gave it.
    let name: String
}

/// An existing device and a queue attached to it, with the device as
/// rtnetlink described it once the queue was attached (`TapControl.heldLink`).
struct HeldDevice: ~Copyable {
    let queue: TapQueue
    let link: Link
}
