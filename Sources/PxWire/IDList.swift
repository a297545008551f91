/// Engine or task ids as one segment of little-endian integers, the form control requests use.
public enum IDList {
    public static func encode<ID: FixedWidthInteger>(_ ids: [ID]) -> Bytes {
        var bytes = Bytes()
        bytes.reserveCapacity(ids.count * MemoryLayout<ID>.size)
        for id in ids { bytes.appendLittleEndian(id) }
        return bytes
    }

    /// The ids in `segment`; a trailing partial id is ignored.
    public static func decode<ID: FixedWidthInteger>(_ segment: Bytes, as _: ID.Type = ID.self) -> [ID] {
        var reader = ByteReader(segment)
        var ids: [ID] = []
        while let id = reader.read(ID.self) { ids.append(id) }
        return ids
    }
}
