import Glibc
import CTapShim
import SystemPackage
import TapSystem
import TapDataPath

// Redirect mode, as firecracker-containerd's tc-redirect-tap and Kata do it:
// every frame arriving on one device leaves through the other, both ways, so
// a VM on a tap owns the address of the interface a CNI plugin made. Traffic
// control over rtnetlink, as `tc` would say it:
//     tc qdisc add dev A ingress
//     tc filter add dev A parent ffff: protocol all u32 match u32 0 0 \
//         action mirred egress redirect dev B
// (u32 and mirred: this kernel has no matchall.)
extension TapControl {
    /// Redirects `interface`'s ingress to `tap` and `tap`'s to `interface`.
    public func redirect(between interface: String, and tap: String) throws(TapError) {
        let from = try anyLink(interface).index, to = try anyLink(tap).index
        for (device, index, target) in [(interface, from, to), (tap, to, from)] {
            try traffic(device, [
                message(RTM_NEWQDISC, index: index, handle: ingressHandle, parent: TC_H_INGRESS, info: 0,
                        [Netlink.Attribute(type: UInt16(TCA_KIND), string: "ingress"),
                         Netlink.Attribute(type: UInt16(TCA_OPTIONS), payload: [])]),
                message(RTM_NEWTFILTER, index: index, handle: 0, parent: ingressHandle,
                        info: 1 << 16 | UInt32(UInt16(ETH_P_ALL).bigEndian),
                        [Netlink.Attribute(type: UInt16(TCA_KIND), string: "u32"),
                         Netlink.Attribute(nested: UInt16(TCA_OPTIONS), [
                            Netlink.Attribute(type: UInt16(TCA_U32_SEL), payload: matchEverything),
                            Netlink.Attribute(nested: UInt16(TCA_U32_ACT), [
                                Netlink.Attribute(nested: 1, [
                                    Netlink.Attribute(type: UInt16(TCA_ACT_KIND), string: "mirred"),
                                    Netlink.Attribute(nested: UInt16(TCA_ACT_OPTIONS), [
                                        Netlink.Attribute(type: UInt16(TCA_MIRRED_PARMS), payload: mirredRedirect(to: target)),
                                    ]),
                                ]),
                            ]),
                         ])]),
            ])
        }
    }

    /// Removes `interface`'s ingress qdisc, and the redirect with it; none is no error.
    public func removeRedirect(from interface: String) throws(TapError) {
        let request = message(RTM_DELQDISC, index: try anyLink(interface).index, handle: ingressHandle, parent: TC_H_INGRESS,
                              info: 0, [], flags: NLM_F_REQUEST | NLM_F_ACK)
        if let errno = try sandboxRequests([request], on: interface)[0], errno != .invalidArgument, errno != .noSuchFileOrDirectory {
            throw .system(.link(.trafficControl(interface)), errno)
        }
    }

    /// Whether `interface`'s ingress redirects every frame to the device `tap`.
    public func redirects(_ interface: String, to tap: String) throws(TapError) -> Bool {
        let index = try anyLink(interface).index, target = try anyLink(tap).index
        var socket = try RouteSocket(system: system)
        let replies = try socket.dump(message(RTM_GETTFILTER, index: index, handle: 0, parent: ingressHandle, info: 0, [],
                                              flags: NLM_F_REQUEST | NLM_F_DUMP))
        // The target's index, as it sits in a tc_mirred, inside any filter's attributes.
        var needle: [UInt8] = []
        needle.appendNative(Int32(TCA_EGRESS_REDIR))
        needle.appendNative(UInt32(bitPattern: target))
        return replies.contains { reply in
            reply.payload.count >= needle.count
                && (0...(reply.payload.count - needle.count)).contains { Array(reply.payload[$0..<$0 + needle.count]) == needle }
        }
    }

    private var ingressHandle: UInt32 { 0xffff_0000 }

    /// tc_u32_sel with one key matching every frame (mask 0), terminal.
    private var matchEverything: [UInt8] {
        var bytes: [UInt8] = [UInt8(TC_U32_TERMINAL), 0, 1, 0]  // flags, offshift, nkeys, padding
        bytes += [UInt8](repeating: 0, count: 12)                // offmask, off, offoff, hoff, hmask
        bytes += [UInt8](repeating: 0, count: 16)                // the key: mask, val, off, offmask
        return bytes
    }

    /// struct tc_mirred: steal the frame and send it out of `target`.
    private func mirredRedirect(to target: Int32) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.appendNative(UInt32(0))                 // index
        bytes.appendNative(UInt32(0))                 // capab
        bytes.appendNative(Int32(TC_ACT_STOLEN))      // action
        bytes.appendNative(Int32(0))                  // refcnt
        bytes.appendNative(Int32(0))                  // bindcnt
        bytes.appendNative(Int32(TCA_EGRESS_REDIR))   // eaction
        bytes.appendNative(UInt32(bitPattern: target))
        return bytes
    }

    private func message(_ type: Int, index: Int32, handle: UInt32, parent: UInt32, info: UInt32,
                         _ attributes: [Netlink.Attribute],
                         flags: CInt = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL) -> Netlink.Message {
        var payload: [UInt8] = [UInt8(AF_UNSPEC), 0, 0, 0]
        payload.appendNative(index)
        payload.appendNative(handle)
        payload.appendNative(parent)
        payload.appendNative(info)
        return Netlink.Message(type: UInt16(type), flags: UInt16(flags), sequence: 0, payload: payload + Netlink.encode(attributes))
    }

    private func traffic(_ device: String, _ messages: [Netlink.Message]) throws(TapError) {
        if let errno = try sandboxRequests(messages, on: device).compactMap({ $0 }).first {
            throw .system(.link(.trafficControl(device)), errno)
        }
    }
}
