import Glibc
import SystemPackage
import TapSystem
import TapDataPath

extension TapControl {
    /// What QEMU's `-netdev bridge` asks of its helper: a new tap (named by the
    /// kernel from tap%d, with IFF_VNET_HDR when asked) with the bridge's MTU,
    /// the address fe:ff:ff:ff:ff:ff (a bridge takes the lowest address of its
    /// ports as its own, so a port should not lower it), added to the bridge
    /// and up, its descriptor sent over the inherited socket `socket` with one
    /// byte of data. The tap is not persistent: it lives as long as QEMU holds
    /// it, and any failure here removes it. Returns its name.
    public func bridgeHelper(bridge: String, vnetHeader: Bool, socket: CInt) throws(TapError) -> String {
        var routes = try RouteSocket(system: system)
        var requested = LinkSettings()
        requested.mtu = try routes.link(named: bridge)?.mtu
        requested.mac = .bridgePort
        requested.bridge = .attach(bridge)
        requested.up = true
        let settings = try validate(requested, device: nil, mode: .tap)
        guard let template = try? InterfaceName("tap%d") else { throw .invalidName("tap%d", .badTemplate) }
        var request = CreateRequest(name: template)
        request.vnetHeader = vnetHeader
        let device = try make(request, persistent: false)
        _ = try apply(settings, to: try self.device(named: device.name))
        do {
            _ = try passDescriptors([device.queue.descriptor.rawValue], with: [0], over: socket, system: system)
        } catch {
            switch error {
            case .badFileDescriptor: throw .notOpen(fd: socket)
            case .notSocket: throw .notASocket(fd: socket)
            case .brokenPipe, .connectionReset, .connectionRefused: throw .peerClosed("fd \(socket)")
            default: throw .system(.sendmsg, error)
            }
        }
        return device.name
    }
}
