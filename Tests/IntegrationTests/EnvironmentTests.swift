import PxPlatform
import Testing

extension EndToEnd {
    @Suite struct PythonEnvironments {
        /// A plain venv (no system site-packages) with a module that no other Python has.
        @Test func enginesOfAVenvPythonImportWhatOnlyThatVenvHas() throws {
            let python = try #require(ProcessSpawner.findExecutable("python3"), "python3 is not on PATH")
            let directory = try TemporaryDirectory()
            let venv = directory.path + "/venv"
            let made = try Executables.run(python, ["-m", "venv", "--without-pip", venv], timeout: 120)
            try #require(made.status == .exited(0), "\(made.transcript)")
            let site = try Executables.run(
                venv + "/bin/python",
                ["-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]
            )
            try #require(site.status == .exited(0), "\(site.transcript)")
            let sitePackages = site.stdout.trimming("\n ")
            try #require(sitePackages.hasPrefix(venv), "site-packages outside the venv: \(sitePackages)")
            try directory.write(
                "X = 'only in the venv'\n",
                to: String(sitePackages.dropFirst(directory.path.count + 1)) + "/onlyinvenv.py"
            )

            let run = try Pxsh.run([
                "--python", venv + "/bin/python", "-n", "1", "-c",
                """
                %px import onlyinvenv, sys; print(onlyinvenv.X, sys.prefix)
                import onlyinvenv
                print("home:", onlyinvenv.X)
                """,
            ])
            expectStatus(run, .exited(0))
            #expect(run.lines.contains("[stdout:0] only in the venv \(venv)"), "\(run.transcript)")
            #expect(run.lines.contains("home: only in the venv"), "\(run.transcript)")
            expectNoLeftovers(run)

            // Without --python, the module is not there: the venv made the difference.
            let control = try Pxsh.script("%px import onlyinvenv", engines: 1)
            expectStatus(control, .exited(1))
            #expect(control.output.contains("ModuleNotFoundError"), "\(control.transcript)")
        }

        @Test func aPythonThatIsNotThereIsAClearStartError() throws {
            let run = try Pxsh.run(["--python", "/nonexistent/bin/python3", "-n", "1", "-c", "%px 1"])
            #expect(run.status != .exited(0) && run.status != .timedOut, "\(run.transcript)")
            #expect(run.stderr.contains("/nonexistent/bin/python3"), "the error names the python:\n\(run.transcript)")
            expectNoLeftovers(run)
        }
    }
}
