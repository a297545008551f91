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
}
