// The `pxsh` Python package, embedded in the pxsh executable so that the home engine's `px` runs
// exactly this code (one code base for `px` and `pip install ./python`). Package.swift lists the
// modules as resources; a test checks that the list matches `python/pxsh/`.

/// The modules of the `pxsh` package: (dotted name, source).
public enum EmbeddedPythonPackage {
    public static let modules: [(name: String, source: [UInt8])] = [
        ("pxsh", PackageResources.__init___py),
        ("pxsh.asyncresult", PackageResources.asyncresult_py),
        ("pxsh.client", PackageResources.client_py),
        ("pxsh.errors", PackageResources.errors_py),
        ("pxsh.executor", PackageResources.executor_py),
        ("pxsh.protocol", PackageResources.protocol_py),
        ("pxsh.serialize", PackageResources.serialize_py),
        ("pxsh.views", PackageResources.views_py),
    ]

    /// pxsh's version: `__version__` in `pxsh/__init__.py`, the one place it is written (the Python
    /// package's metadata reads it too, see `pyproject.toml`). "unknown" if that line is missing.
    public static let version: String = {
        let prefix = "__version__ = "
        for line in String(decoding: PackageResources.__init___py, as: UTF8.self).split(separator: "\n")
        where line.hasPrefix(prefix) {
            return String(line.dropFirst(prefix.count).filter { $0 != "\"" && $0 != "'" && $0 != " " })
        }
        return "unknown"
    }()
}
