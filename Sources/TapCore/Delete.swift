extension TapControl {
    /// Removes persistent tun/tap devices, finding each one's mode and flags itself.
    ///
    /// Every name is checked first (exists, is tun/tap, no process holds it), so a
    /// bad name in the list deletes nothing. A device is then removed by attaching
    /// with its own flags, clearing persist and closing: the kernel unregisters a
    /// non-persistent device when its last queue closes. Returns the names removed.
    public func delete(_ names: [InterfaceName], missingOK: Bool = false) throws(TapError) -> [String] {
        var links: [TunLink] = []
        let holders = Holders.scan()
        for name in names {
            let link: TunLink
            do {
                link = try tunLink(name.value)
            } catch .notFound(let missing) {
                if missingOK { continue }
                throw .notFound(missing)
            }
            // A non-persistent device lives only while someone holds it.
            if let held = holders[link.name] ?? (link.persistent ? nil : []) {
                throw .inUse(link.name, holders: held)
            }
            links.append(link)
        }
        for link in links {
            try remove(link)
        }
        return links.map(\.name)
    }

    private func remove(_ link: TunLink) throws(TapError) {
        let queue = try attach(link)
        let tun = queue.descriptor
        do {
            try tun.setPersistent(false)
        } catch {
            throw .system("TUNSETPERSIST", error)
        }
    }
}
