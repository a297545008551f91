import Testing

@testable import PxLaunch

struct ShellWordsTests {
    @Test(arguments: [
        ("-F cfg", ["-F", "cfg"]),
        ("  -o 'ProxyJump a b'  -v", ["-o", "ProxyJump a b", "-v"]),
        ("--export=\"A=1 B\" x\\ y", ["--export=A=1 B", "x y"]),
        ("\"a\\\"b\" 'c\\d' ''", ["a\"b", "c\\d", ""]),
        ("", []),
    ])
    func splitsAsAShellDoes(input: String, words: [String]) throws {
        #expect(try ShellWords.split(input) == words)
    }

    @Test func anUnterminatedQuoteIsAnError() {
        #expect(throws: ShellWords.UnterminatedQuote(text: "-o 'x")) { try ShellWords.split("-o 'x") }
    }

    @Test func quotesWhatTheRemoteShellWouldSplit() throws {
        for word in ["plain/path-1.0", "two words", "it's", "", "$HOME", "a;b"] {
            #expect(try ShellWords.split(ShellWords.quote(word)) == [word])
        }
        #expect(ShellWords.quote("/usr/bin/pxsh") == "/usr/bin/pxsh")
    }
}

struct SSHHostTests {
    @Test func parsesEveryPart() throws {
        #expect(
            try SSHHost.parseList("node1, root@10.0.0.2:2222*4,[fe80::1]:22*2,u@[::1]")
                == [
                    SSHHost(host: "node1"),
                    SSHHost(user: "root", host: "10.0.0.2", port: 2222, engines: 4),
                    SSHHost(host: "fe80::1", port: 22, engines: 2),
                    SSHHost(user: "u", host: "::1"),
                ]
        )
    }

    @Test(arguments: [
        ("", "no hosts given"), ("a,,b", "empty entry"), ("a*0", "the count after '*' must be 1 to 256"),
        ("a*x", "the count after '*' must be 1 to 256"), ("a:0", "the port must be 1 to 65535"),
        ("a:ssh", "the port must be 1 to 65535"), ("@a", "empty user before '@'"), ("u@", "no host name"),
        ("[::1", "no ']' after an IPv6 address"), ("-oProxyCommand=x", "not a host name"),
    ])
    func badEntriesSayWhy(input: String, reason: String) {
        #expect {
            try SSHHost.parseList(input)
        } throws: { error in
            (error as? SSHHost.ParseError).map { $0.reason.hasPrefix(reason) } ?? false
        }
    }

    @Test func describesHostsAsWritten() throws {
        #expect(try SSHHost.parse("root@10.0.0.2:2222*4").description == "root@10.0.0.2:2222")
        #expect(try SSHHost.parse("[fe80::1]:22").description == "[fe80::1]:22")
        #expect(try SSHHost.parse("[fe80::1]:22").destination == "fe80::1")
    }
}

struct LaunchPlanTests {
    private func jobs(
        _ settings: LaunchSettings,
        engines: Int = 4,
        inside: Bool = false,
        isRoot: Bool = false
    ) throws -> [LaunchJob] {
        try LaunchPlan.jobs(
            settings,
            engines: engines,
            pxsh: "/opt/pxsh",
            python: "/py/bin/python3",
            connectionFile: "/run/c/connection.json",
            insideAllocation: inside,
            isRoot: isRoot,
            jobName: "pxsh-demo",
            batchOutput: "/run/c/slurm-%j.out"
        )
    }

    @Test func mpiIsOneJobWithItsArgumentsBeforeTheCount() throws {
        let jobs = try jobs(
            LaunchSettings(kind: .mpi, mpiexec: "/venv/bin/mpiexec", mpiexecArguments: ["-bind-to", "none"])
        )
        #expect(
            jobs == [
                LaunchJob(
                    executable: "/venv/bin/mpiexec",
                    arguments: [
                        "-bind-to", "none", "-n", "4", "/opt/pxsh", "engine", "--connection-file",
                        "/run/c/connection.json", "--python", "/py/bin/python3",
                    ],
                    input: .none,
                    ranks: 0..<4,
                    host: nil,
                    isBatchSubmission: false
                )
            ]
        )
    }

    @Test func mpiAsRootAllowsOpenMPIToRunAsRoot() throws {
        let settings = LaunchSettings(kind: .mpi)
        #expect(try jobs(settings)[0].environment.isEmpty)
        #expect(
            try jobs(settings, isRoot: true)[0].environment == [
                "OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
            ]
        )
        // Only mpiexec gets them.
        let ssh = LaunchSettings(kind: .ssh, hosts: [SSHHost(host: "b")])
        #expect(try jobs(ssh, isRoot: true)[0].environment.isEmpty)
        #expect(try jobs(LaunchSettings(kind: .slurm), isRoot: true)[0].environment.isEmpty)
    }

    @Test func sshIsOneConnectionPerHostWhoseProcessForksItsEnginesWithTheFileOnStdin() throws {
        let settings = LaunchSettings(
            kind: .ssh,
            hosts: [SSHHost(user: "root", host: "10.0.0.2", port: 2222, engines: 2), SSHHost(host: "b")],
            sshArguments: ["-F", "/tmp/my config"],
            remotePxsh: "/remote/bin/pxsh"
        )
        #expect(settings.engineCount(requested: 9) == 3)
        let jobs = try jobs(settings, engines: 3)
        #expect(jobs.map(\.ranks) == [0..<2, 2..<3])
        #expect(jobs.map(\.host) == ["root@10.0.0.2:2222", "b"])
        #expect(jobs.map(\.sshHost) == settings.hosts)
        #expect(jobs.allSatisfy { $0.input == .connectionFile && $0.executable == "ssh" })
        #expect(
            jobs[0].arguments == [
                "-F", "/tmp/my config", "-T", "-o", "BatchMode=yes", "-o", "ConnectTimeout=5", "-p", "2222",
                "root@10.0.0.2",
                "exec /remote/bin/pxsh engine --connection-file - --python /py/bin/python3 -n 2 --rank 0 --size 3",
            ]
        )
        // One engine alone is started as such.
        #expect(
            jobs[1].arguments.last
                == "exec /remote/bin/pxsh engine --connection-file - --python /py/bin/python3 --rank 2 --size 3"
        )
        // The key never goes on a command line: only "-" names the connection file.
        #expect(!jobs.contains { $0.arguments.joined(separator: " ").contains("connection.json") })
        #expect(
            try self.jobs(LaunchSettings(kind: .ssh, hosts: [SSHHost(host: "b")]))[0].arguments.contains(
                "exec /opt/pxsh engine --connection-file - --python /py/bin/python3 --rank 0 --size 1"
            )
        )
    }

    /// `%restart` of one engine of `host*2` starts that rank alone, on the same host, with the same options.
    @Test func oneRankOfAnSSHJobIsStartedAgainAlone() throws {
        let settings = LaunchSettings(
            kind: .ssh,
            hosts: [SSHHost(user: "root", host: "10.0.0.2", engines: 2)],
            sshArguments: ["-F", "/tmp/c"]
        )
        let job = LaunchPlan.sshJob(
            settings,
            host: settings.hosts[0],
            ranks: 1..<2,
            size: 2,
            pxsh: "/opt/pxsh",
            python: "/py/bin/python3"
        )
        #expect(job.ranks == 1..<2 && job.host == "root@10.0.0.2" && job.input == .connectionFile)
        #expect(
            job.commandLine
                == "ssh -F /tmp/c -T -o BatchMode=yes -o ConnectTimeout=5 root@10.0.0.2 "
                + "'exec /opt/pxsh engine --connection-file - --python /py/bin/python3 --rank 1 --size 2'"
        )
    }

    @Test(
        arguments: [
            (nil, 1, [-1]), (nil, 3, [-1, -1, -1]), (0, 1, [0]), (4, 3, [4, 5, 6]),
        ] as [(Int?, Int, [Int])]
    )
    func theEnginesOfOneHostAskForConsecutiveRanksOrAny(first: Int?, count: Int, ranks: [Int]) {
        #expect(LaunchPlan.hostRanks(first: first, count: count) == ranks)
    }

    @Test func slurmRunsSrunInsideAnAllocationAndSubmitsABatchJobOutside() throws {
        let settings = LaunchSettings(kind: .slurm, slurmArguments: ["--mpi=pmi2"])
        let inside = try jobs(settings, inside: true)
        #expect(
            inside.map(\.commandLine) == [
                "srun --mpi=pmi2 -n 4 /opt/pxsh engine --connection-file /run/c/connection.json --python /py/bin/python3"
            ]
        )
        let outside = try jobs(settings, inside: false)
        #expect(outside.count == 1)
        #expect(outside[0].isBatchSubmission)
        #expect(
            outside[0].arguments == [
                "--parsable", "--job-name=pxsh-demo", "--output=/run/c/slurm-%j.out", "-n", "4", "--mpi=pmi2",
            ]
        )
        #expect(
            outside[0].input
                == .script(
                    "#!/bin/sh\nexec srun /opt/pxsh engine --connection-file /run/c/connection.json --python /py/bin/python3\n"
                )
        )
    }

    @Test func missingPartsAreClearErrors() {
        #expect(throws: LaunchPlan.Problem.self) { try jobs(LaunchSettings(kind: .ssh)) }
        #expect(throws: LaunchPlan.Problem.self) { try jobs(LaunchSettings(kind: .mpi), engines: 0) }
    }
}

struct LaunchedRankTests {
    @Test func mpiVariablesComeBeforeSlurmOnes() {
        #expect(
            LaunchedRank.from(environment: ["PMI_RANK": "2", "PMI_SIZE": "4", "SLURM_PROCID": "0", "SLURM_NTASKS": "1"])
                == LaunchedRank(rank: 2, size: 4, source: "PMI_RANK")
        )
        #expect(
            LaunchedRank.from(environment: ["OMPI_COMM_WORLD_RANK": "1", "OMPI_COMM_WORLD_SIZE": "2"])
                == LaunchedRank(rank: 1, size: 2, source: "OMPI_COMM_WORLD_RANK")
        )
        #expect(
            LaunchedRank.from(environment: ["SLURM_PROCID": "3", "SLURM_NTASKS": "4", "SLURM_STEP_ID": "0"])
                == LaunchedRank(rank: 3, size: 4, source: "SLURM_PROCID")
        )
        #expect(LaunchedRank.from(environment: ["PMI_RANK": "x", "HOME": "/root"]) == nil)
        // A batch script (no step) is not one of the engines' ranks.
        #expect(LaunchedRank.from(environment: ["SLURM_PROCID": "0", "SLURM_NTASKS": "4", "SLURM_JOB_ID": "7"]) == nil)
    }
}
