using RegPS.Engine.Fields;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using RegPS.Engine.Images;
using RegPS.Engine.IO;
using RegPS.Engine.Registration;

using static RegPS.Benchmarks.BenchSupport;

namespace RegPS.Benchmarks;

/// <summary>
/// RegPS's SyN side by side with elastix 5's B-spline registration (Debian `elastix`, tests/bench/elastix_bspline.txt)
/// and DIPY 1.6's SymmetricDiffeomorphicRegistration(CCMetric(dim)) at its defaults, on the same NIfTI files: real
/// images warped by known smooth fields (tests/bench/syn_dipy.py prepare): ITK's proton-density brain slice
/// (brain2d, 181x217), ITK's T1 (t1_3d, 128x128x62 at 2x2x3 mm) and the Colin27 T1 at 1 mm on a 193x229x193 grid
/// (colin_1mm, mricron-data) warped by up to 9 mm; optionally DIPY's circle/C pair (circle_c, no known field) and, with
/// --big, ITK's T1 upsampled to 193x229x193 (t1_big).
/// <para>RegPS runs twice per round: its default (SynOptions()) and -Preset Dipy (SynOptions.Dipy, DIPY's algorithm and
/// defaults; the "before" of the default); --no-dipy-preset leaves the second out.</para>
/// <para>Every case is "after the affine": static and moving share one grid and differ only by the known warp, so each
/// tool starts from the identity and runs its deformable stage alone.</para>
/// <para>Every tool runs as its own process on the files, with the same thread count (RegPS --threads, elastix -threads,
/// OMP_NUM_THREADS for DIPY, which is single-threaded), under GNU time (wall, CPU = user + system, peak resident set).
/// The rounds alternate the order of the tools so a slow stretch of this shared machine falls on all of them; times are
/// medians over the rounds with their range, the wall-time ratios medians of the rounds' ratios (CPU: ratio of the medians). "registration s" is the time
/// the tool spends registering (RegPS's SynRegistration.Register call, DIPY's optimize(), elastix's pyramids and
/// resolutions from its log), without process start and file I/O. DIPY runs in every round for 2D cases and in the
/// first round for 3D ones (minutes at 1 mm); its results are cached in the case folder and reused in later runs
/// unless --rerun-dipy [case,...]; --reuse-dipy never runs it (the cached result is shown when there is one, e.g. from
/// a DIPY-only run in the background); --no-dipy leaves it out.</para>
/// <para>"RegPS in pwsh" is SyN as a user runs it (tests/bench/syn_user_peak.ps1): one `dotnet pwsh` process imports
/// the built module (out/RegPS/VERSION, from build.ps1 Build; --module DIR), loads both .nii.gz files with
/// Get-NiftiImage, runs Register-AffineImage and then Register-SynImage -Prealign; its peak MB is the process's
/// PeakWorkingSet64 after the SyN, its registration time the SyN's alone (the affine's time is printed apart).</para>
/// <para>Scoring (syn_dipy.py evaluate): the residual r(y) = f(y) + e(y + f(y)) of each tool's static->moving map
/// y -> y + f(y) against the known warp e, over the brain mask (the head in 2D): mean and 95th percentile in mm; the
/// minimum Jacobian determinant over the mask (elastix: transformix -jac all; RegPS, DIPY: det(I + Df) from the field
/// by central differences); the global correlation of the warped moving image with the static one.</para>
/// Usage: compare syn [--data DIR] [--cases a,b] [--big] [--rounds N] [--threads N] [--no-dipy] [--rerun-dipy [a,b]] [--reuse-dipy]
///        [--no-elastix] [--no-pwsh] [--no-dipy-preset] [--no-again] [--module DIR]
///        compare syn --one CASEDIR [--threads N] [--again] [Preset=Dipy] [NAME=VALUE ...]
///                                   (one RegPS run: reads static.nii/moving.nii, writes regps_forward.raw, JSON;
///                                    NAME=VALUE sets a SynOptions property, e.g. Radius=4 LevelIterations=30,20,5;
///                                    --again registers the pair a second time and reports that time too;
///                                    --jit-trace N lists what the JIT compiler compiled during the registration)
///        compare syn --micro | --micro2d | --micro-size WxHxD [--threads N]  (per-kernel cost; FILTER=TEXT in the environment times only the kernels whose names contain TEXT)
///        compare syn --jit-cost     (how long the JIT compiler takes for each of the engine's fully optimised kernels)
/// </summary>
public sealed class SynComparison : IComparison
{
    public string Name => "syn";
    public string Description => "SyN vs elastix 5 B-spline and DIPY 1.6 SyN on known warps: time, CPU, memory, error, Jacobian";

    private const string PythonExe = "/usr/bin/python3";
    private static readonly string[] DefaultCases = { "brain2d", "t1_3d", "colin_1mm" };

    public int Run(string[] args)
    {
        int threadsN = int.Parse(Option(args, "--threads") ?? "2", CultureInfo.InvariantCulture);
        string threads = threadsN.ToString(CultureInfo.InvariantCulture);
        if (args.Contains("--jit-cost")) return JitCost();
        if (Option(args, "--micro-size") is { } size)
        {
            var sz = size.Split('x').Select(int.Parse).ToArray();
            return Micro(threadsN, sz[0], sz[1], sz[2]);
        }
        if (args.Contains("--micro")) { Micro(threadsN, 128, 128, 62); return Micro(threadsN, 32, 32, 24); }
        if (args.Contains("--micro2d")) return Micro(threadsN, 181, 217, 1);
        if (Option(args, "--one") is { } one) return RunOne(one, threadsN, args.Where(a => a.Contains('=', StringComparison.Ordinal)), Option(args, "--out") ?? "regps", args.Contains("--again"),
            Option(args, "--jit-trace") is { } jt ? int.Parse(jt, CultureInfo.InvariantCulture) : 0);

        string data = Option(args, "--data") ?? Option(args, "--dir") ?? Path.Combine(Path.GetTempPath(), "regps-syn-bench2");
        bool big = args.Contains("--big");
        var cases = (Option(args, "--cases") ?? Option(args, "--only") ?? string.Join(",", DefaultCases) + (big ? ",t1_big" : ""))
            .Split(',', StringSplitOptions.RemoveEmptyEntries).ToList();
        int rounds = int.Parse(Option(args, "--rounds") ?? "3", CultureInfo.InvariantCulture);
        int rr = Array.IndexOf(args, "--rerun-dipy");
        var rerunOnly = rr >= 0 && rr + 1 < args.Length && !args[rr + 1].StartsWith("--", StringComparison.Ordinal) ? args[rr + 1].Split(',') : null;
        bool reuseDipy = args.Contains("--reuse-dipy");
        bool runDipy = !args.Contains("--no-dipy"), runElastix = !args.Contains("--no-elastix"), runPwsh = !args.Contains("--no-pwsh"), runAgain = !args.Contains("--no-again");
        bool runDipyPreset = !args.Contains("--no-dipy-preset");
        string script = FindFile("tests/bench/syn_dipy.py", orCurrentDirectory: true);
        string paramFile = FindFile("tests/bench/elastix_bspline.txt", orCurrentDirectory: true);
        string userScript = FindFile("tests/bench/syn_user_peak.ps1", orCurrentDirectory: true);
        string repoRoot = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(paramFile)!, "../.."));
        if (runElastix && !(File.Exists("/usr/bin/elastix") && File.Exists("/usr/bin/transformix")))
        {
            Console.Error.WriteLine("elastix is not installed (apt-get install -y elastix); running without it.");
            runElastix = false;
        }
        if (!File.Exists(TimeExe)) throw new InvalidOperationException("GNU time is missing (apt-get install -y time).");
        string? module = runPwsh ? Option(args, "--module") ?? FindModule(repoRoot) : null;
        if (runPwsh && module is null)
        {
            Console.Error.WriteLine("No built module under out/RegPS/ (dotnet pwsh ./build.ps1 Build); running without the pwsh measurement.");
            runPwsh = false;
        }
        if (!cases.All(c => File.Exists(Path.Combine(data, c, "truth.json"))))
        {
            Console.WriteLine($"Preparing inputs in {data} ...");
            var pa = new List<string> { script, "prepare", data };
            if (big || cases.Contains("t1_big")) pa.Add("--big");
            if (Exec(PythonExe, pa, null, out _, out _) != 0) return 1;
            var missing = cases.Where(c => !File.Exists(Path.Combine(data, c, "truth.json"))).ToList();
            if (missing.Count > 0) Console.Error.WriteLine($"Not prepared (is mricron-data installed?): {string.Join(", ", missing)}");
            cases = cases.Except(missing).ToList();
        }

        var self = Environment.ProcessPath!;
        var selfArgs = new List<string>();
        if (Path.GetFileNameWithoutExtension(self) == "dotnet") selfArgs.Add(typeof(SynComparison).Assembly.Location);
        var rows = new List<string[]>();
        var notes = new List<string>();
        foreach (var c in cases)
        {
            string dir = Path.Combine(data, c);
            var st = NiftiReader.Read(Path.Combine(dir, "static.nii"));
            bool is2D = st.Dimension == 2;
            string dipyCache = Path.Combine(dir, "dipy_runs.json");
            bool dipyLive = runDipy && !reuseDipy && (rr >= 0 && (rerunOnly is null || rerunOnly.Contains(c)) || !File.Exists(dipyCache) || !File.Exists(Path.Combine(dir, "dipy_forward.raw")));
            var m = new Dictionary<string, List<Measured>> { ["RegPS"] = new(), ["RegPS -Preset Dipy"] = new(), ["elastix"] = new(), ["DIPY"] = new(), ["RegPS in pwsh"] = new(), ["RegPS again"] = new() };
            string elastixOut = Path.Combine(dir, "elastix");
            string? pwshJson = null;

            void RunRegPS() => RunRegPSWith("RegPS", "regps");
            void RunRegPSDipy() => RunRegPSWith("RegPS -Preset Dipy", "regpsdipy", "Preset=Dipy");
            // a process that registers the pair twice: the second time is what each subject after the first costs in a
            // session (compiled code; the first includes the JIT compiler's work); only its times are used
            void RunRegPSAgain() => RunRegPSWith("RegPS again", "regpsagain", "--again");
            void RunRegPSWith(string name, string who, params string[] settings)
            {
                var r = Measure(self, selfArgs.Concat(new[] { "compare", "syn", "--one", dir, "--threads", threads, "--out", who }).Concat(settings), null);
                var json = JsonDocument.Parse(LastLine(r.Stdout)).RootElement;
                r.Inner = json.GetProperty("seconds").GetDouble();
                r.Note = json.GetProperty("iterations").GetString();
                r.Jit = json.GetProperty("jit_seconds").GetDouble();
                if (json.GetProperty("seconds_again").ValueKind == JsonValueKind.Number)
                {
                    r.Extra = r.Inner;
                    r.Inner = json.GetProperty("seconds_again").GetDouble();
                }
                m[name].Add(r);
            }
            void RunElastix()
            {
                if (Directory.Exists(elastixOut)) Directory.Delete(elastixOut, true);
                Directory.CreateDirectory(elastixOut);
                var r = Measure("/usr/bin/elastix", new[] { "-f", Path.Combine(dir, "static.nii"), "-m", Path.Combine(dir, "moving.nii"),
                    "-p", paramFile, "-out", elastixOut, "-threads", threads }, null);
                r.Inner = ElastixSeconds(Path.Combine(elastixOut, "elastix.log"));
                m["elastix"].Add(r);
            }
            void RunDipy()
            {
                var r = Measure(PythonExe, new[] { script, "dipy", data, c }, new() { ["OMP_NUM_THREADS"] = threads });
                var json = JsonDocument.Parse(LastLine(r.Stdout)).RootElement;
                r.Inner = json.GetProperty("seconds").GetDouble();
                r.Note = json.GetProperty("iterations").GetInt32().ToString(CultureInfo.InvariantCulture) + " iterations";
                r.Stdout = "";
                r.When = DateTime.UtcNow.ToString("yyyy-MM-dd HH:mm 'UTC'", CultureInfo.InvariantCulture);
                m["DIPY"].Add(r);
            }
            void RunPwsh()
            {
                var a = new List<string> { "pwsh", "-NoProfile", "-NonInteractive", "-File", userScript, "-ModuleDir", module!,
                    "-Static", Path.Combine(dir, "static.nii.gz"), "-Moving", Path.Combine(dir, "moving.nii.gz"), "-Threads", threads,
                    "-ForwardOut", Path.Combine(dir, "pwsh_forward_planar.raw") };
                var r = Measure("dotnet", a, null, repoRoot);
                pwshJson = LastLine(r.Stdout);
                var json = JsonDocument.Parse(pwshJson).RootElement;
                r.Inner = json.GetProperty("syn_seconds").GetDouble();
                r.Extra = json.GetProperty("affine_seconds").GetDouble();
                r.UserPeakMb = json.GetProperty("peak_working_set_mb").GetDouble();
                r.Note = json.GetProperty("syn_iterations").GetString();
                File.WriteAllText(Path.Combine(dir, "pwsh_prealign.json"), json.GetProperty("affine_matrix").GetRawText());
                m["RegPS in pwsh"].Add(r);
            }

            var tools = new List<(string Name, Action Run)> { ("RegPS", RunRegPS) };
            if (runAgain) tools.Add(("RegPS again", RunRegPSAgain));
            if (runDipyPreset) tools.Add(("RegPS -Preset Dipy", RunRegPSDipy));
            if (runElastix) tools.Add(("elastix", RunElastix));
            if (runPwsh && File.Exists(Path.Combine(dir, "static.nii.gz"))) tools.Add(("RegPS in pwsh", RunPwsh));
            if (dipyLive) tools.Add(("DIPY", RunDipy));
            for (int r = 0; r < rounds; r++)
            {
                // alternate the order: forward in even rounds, backward in odd ones; DIPY only in the first round in 3D
                var order = r % 2 == 0 ? tools : Enumerable.Reverse(tools).ToList();
                foreach (var (name, run) in order)
                {
                    if (name == "DIPY" && !is2D && r > 0) continue;
                    Console.Error.WriteLine($"[{c}] round {r + 1}/{rounds}: {name} ... (load {File.ReadAllText("/proc/loadavg").Split(' ')[0]})");
                    run();
                }
            }
            if (dipyLive) File.WriteAllText(dipyCache, JsonSerializer.Serialize(m["DIPY"]));
            else if (runDipy && File.Exists(dipyCache)) m["DIPY"] = JsonSerializer.Deserialize<List<Measured>>(File.ReadAllText(dipyCache))!;
            else if (runDipy) Console.Error.WriteLine($"[{c}] no cached DIPY result in {dir}");

            // Scores: each tool's last result (RegPS is deterministic; elastix's random sampler is seeded).
            var scores = new Dictionary<string, JsonElement>();
            scores["RegPS"] = Evaluate(script, data, c, "regps");
            if (m["RegPS -Preset Dipy"].Count > 0) scores["RegPS -Preset Dipy"] = Evaluate(script, data, c, "regpsdipy");
            if (m["DIPY"].Count > 0) scores["DIPY"] = Evaluate(script, data, c, "dipy");
            if (m["RegPS in pwsh"].Count > 0) scores["RegPS in pwsh"] = Evaluate(script, data, c, "pwsh");
            string elastixJac = "";
            if (m["elastix"].Count > 0)
            {
                string tx = Path.Combine(dir, "transformix");
                if (Directory.Exists(tx)) Directory.Delete(tx, true);
                Directory.CreateDirectory(tx);
                if (Exec("/usr/bin/transformix", new[] { "-def", "all", "-jac", "all", "-tp", Path.Combine(elastixOut, "TransformParameters.0.txt"),
                    "-out", tx, "-threads", threads }, null, out _, out _) != 0) throw new InvalidOperationException("transformix failed");
                if (Exec(PythonExe, new[] { script, "elastix", data, c, tx }, null, out var o, out _) != 0) throw new InvalidOperationException("could not read transformix's output");
                elastixJac = LastLine(o);
                scores["elastix"] = Evaluate(script, data, c, "elastix");
            }

            var regps = m["RegPS"];
            foreach (var name in new[] { "RegPS", "RegPS -Preset Dipy", "elastix", "DIPY", "RegPS in pwsh" })
            {
                var list = m[name];
                if (list.Count == 0) continue;
                var sc = scores[name];
                // speed against RegPS: the rounds' ratios of process wall times (same round), DIPY's cached runs against the median
                string ratio = "-";
                if (name != "RegPS")
                {
                    var ratios = new List<double>();
                    if (name == "DIPY" && !dipyLive) ratios.Add(Median(list.Select(x => x.Wall).ToList()) / Median(regps.Select(x => x.Wall).ToList()));
                    else for (int i = 0; i < list.Count && i < regps.Count; i++) ratios.Add(list[i].Wall / regps[i].Wall);
                    ratio = ratios.Count == 1 ? F(ratios[0], "0.0") + "x" : $"{F(Median(ratios), "0.0")}x ({F(ratios.Min(), "0.0")}-{F(ratios.Max(), "0.0")})";
                }
                string minJac = F(sc.GetProperty("min_jacobian").GetDouble(), "0.000");
                if (name == "elastix")
                    minJac = F(JsonDocument.Parse(elastixJac).RootElement.GetProperty("min_jacobian_transformix").GetDouble(), "0.000") + " (field " + minJac + ")";
                string peak = name == "RegPS in pwsh"
                    ? $"{Range(list, x => x.UserPeakMb, "0")} (RSS {F(Median(list.Select(x => x.PeakMb).ToList()), "0")})"
                    : Range(list, x => x.PeakMb, "0");
                rows.Add(new[]
                {
                    c, name, name == "DIPY" && !dipyLive ? $"{list.Count} (cached {list[0].When})" : list.Count.ToString(CultureInfo.InvariantCulture),
                    Range(list, x => x.Wall, "0.00"), Range(list, x => x.Inner, "0.00"), ratio, Range(list, x => x.Cpu, "0.0"),
                    name == "RegPS" ? "-" : F(Median(list.Select(x => x.Cpu).ToList()) / Median(regps.Select(x => x.Cpu).ToList()), "0.0") + "x", peak,
                    Score(sc, "mean_err_mm"), Score(sc, "p95_err_mm"), minJac, Score(sc, "final_cc"), list[^1].Note ?? "",
                });
                Console.WriteLine(string.Join(" | ", rows[^1]));
            }
            if (m["RegPS again"] is { Count: > 0 } again)
                notes.Add($"{c}: RegPS registering the pair a second time in the same process took {Range(again, x => x.Inner, "0.00")} s; its first registration "
                    + $"there {Range(again, x => x.Extra, "0.00")} s, during which the JIT compiler used {Range(again, x => x.Jit, "0.00")} s of CPU.");
            if (m["RegPS in pwsh"].Count > 0)
                notes.Add($"{c}: the pwsh process's affine took {Range(m["RegPS in pwsh"], x => x.Extra, "0.00")} s before the SyN.");
            var truth = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "truth.json"))).RootElement;
            if (scores["RegPS"].TryGetProperty("identity_mean_err_mm", out var idm))
                notes.Add($"{c} ({string.Join("x", st.Grid.Shape)}): the known warp is {F(idm.GetDouble(), "0.00")} mm on average over the mask, at most "
                    + $"{F(scores["RegPS"].GetProperty("identity_max_err_mm").GetDouble(), "0.00")} mm; its own minimum Jacobian {F(truth.GetProperty("min_jacobian").GetDouble(), "0.00")}.");
        }
        Console.WriteLine();
        PrintTable(new[] { "case", "tool", "runs", "wall s", "registration s", "wall vs RegPS", "CPU s", "CPU vs RegPS", "peak MB", "mean err mm", "p95 err mm",
            "min det J (mask)", "final CC", "iterations" }, rows);
        Console.WriteLine();
        foreach (var n in notes) Console.WriteLine("- " + n);
        Console.WriteLine($"- {rounds} rounds, tools alternating in order; {threads} threads for every tool (DIPY 1.6 runs on one); times: median (range) over the runs. "
            + "wall = process (start, read, register, write); registration = the tool's own registration time; CPU = user + system of the process; "
            + "peak MB = the process's peak resident set (GNU time), for RegPS in pwsh its PeakWorkingSet64 after the SyN (GNU time's in brackets). "
            + "Errors over the mask (the brain; the head in 2D) against the known warp; elastix's Jacobian from transformix -jac (from its field in brackets).");
        Console.WriteLine($"- load average at the end: {File.ReadAllText("/proc/loadavg").Trim()}");
        return 0;
    }

    /// <summary>
    /// The JIT compiler's time for each engine method marked AggressiveOptimization (compiled fully optimised at its
    /// first call, which a registration's first run waits for), slowest first.
    /// </summary>
    private static int JitCost()
    {
        var asm = typeof(SynRegistration).Assembly;
        var rows = new List<(double, string)>();
        foreach (var t in asm.GetTypes())
        {
            if (t.ContainsGenericParameters) continue;
            foreach (var m in t.GetMethods(System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.Static | System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.DeclaredOnly))
            {
                if (m.ContainsGenericParameters || m.IsAbstract) continue;
                if ((m.MethodImplementationFlags & System.Reflection.MethodImplAttributes.AggressiveOptimization) == 0) continue;
                var sw = Stopwatch.StartNew();
                // methods the runtime cannot prepare on their own (for example those of ref structs) are left out
                try { System.Runtime.CompilerServices.RuntimeHelpers.PrepareMethod(m.MethodHandle); }
                catch (Exception e) when (e is ArgumentException or NotSupportedException or InvalidOperationException or TypeLoadException) { continue; }
                rows.Add((sw.Elapsed.TotalMilliseconds, t.FullName + "." + m.Name));
            }
        }
        foreach (var (ms, n) in rows.OrderByDescending(r => r.Item1).Take(60)) Console.WriteLine($"{ms,8:0.0} ms {n}");
        Console.WriteLine($"total {rows.Sum(r => r.Item1):0} ms over {rows.Count} methods");
        return 0;
    }

    /// <summary>One RegPS run on a case folder: read the NIfTI files, register (the default, or Preset=Dipy and other NAME=VALUE settings), write WHO_forward.raw, print JSON.</summary>
    private static int RunOne(string dir, int threads, IEnumerable<string> settings, string who, bool registerAgain, int jitTrace = 0)
    {
        var st = NiftiReader.Read(Path.Combine(dir, "static.nii"));
        var mv = NiftiReader.Read(Path.Combine(dir, "moving.nii"));
        using var trace = jitTrace > 0 ? new JitTrace(jitTrace) : null;
        var jit0 = System.Runtime.JitInfo.GetCompilationTime();
        var sw = Stopwatch.StartNew();
        var map = SynRegistration.Register(st, mv, null, WithSettings(new SynOptions { MaxDegreeOfParallelism = threads }, settings));
        sw.Stop();
        trace?.Report();
        double jit = (System.Runtime.JitInfo.GetCompilationTime() - jit0).TotalSeconds;
        double? again = null;
        if (registerAgain)
        {
            // the same registration once more in this process: what every subject after the first costs in a session
            // (the code is compiled by then; the first run's time includes the JIT compiler's, jit_seconds of CPU)
            var sw2 = Stopwatch.StartNew();
            SynRegistration.Register(st, mv, null, WithSettings(new SynOptions { MaxDegreeOfParallelism = threads }, settings));
            again = sw2.Elapsed.TotalSeconds;
        }
        WriteField(Path.Combine(dir, who + "_forward.raw"), map.Forward);
        Console.WriteLine(JsonSerializer.Serialize(new
        {
            seconds = sw.Elapsed.TotalSeconds,
            seconds_again = again,
            jit_seconds = jit,
            iterations = string.Join("+", map.IterationsPerLevel),
            final_cc = map.FinalCorrelation,
            round_trip_mean_vox = MeanRoundTrip(map, st),
        }));
        return 0;
    }

    /// <summary>
    /// Invertibility: the mean over the head (static above 10% of its maximum) of |f(y) + g(y + f(y))| in voxels, the
    /// distance from y after going forward (f) and back (g, trilinear at y + f(y)); the map's prealign is the identity here.
    /// </summary>
    private static double MeanRoundTrip(DiffeomorphicMap map, Image st)
    {
        var g = st.Grid;
        var f = map.Forward; var b = map.Backward;
        float max = st.Range().Max;
        double sum = 0; long n = 0;
        for (int k = 0; k < g.NZ; k++)
            for (int j = 0; j < g.NY; j++)
                for (int i = 0; i < g.NX; i++)
                {
                    if (st[i, j, k] <= 0.1 * max) continue;
                    var d = f[i, j, k];
                    var y = g.ToWorld(i, j, k);
                    var z = g.ToIndex(y.X + d.X, y.Y + d.Y, y.Z + d.Z);
                    var e = Trilinear(b, z.X, z.Y, z.Z);
                    var r = g.WorldToGrid.ApplyLinear(d.X + e.X, d.Y + e.Y, d.Z + e.Z);
                    sum += Math.Sqrt(r.X * r.X + r.Y * r.Y + r.Z * r.Z); n++;
                }
        return n > 0 ? sum / n : double.NaN;
    }

    private static (double X, double Y, double Z) Trilinear(DisplacementField field, double x, double y, double z)
    {
        var g = field.Grid;
        x = Math.Clamp(x, 0, g.NX - 1); y = Math.Clamp(y, 0, g.NY - 1); z = Math.Clamp(z, 0, g.NZ - 1);
        int i0 = Math.Min((int)x, Math.Max(g.NX - 2, 0)), j0 = Math.Min((int)y, Math.Max(g.NY - 2, 0)), k0 = Math.Min((int)z, Math.Max(g.NZ - 2, 0));
        double fx = x - i0, fy = y - j0, fz = z - k0;
        double ox = 0, oy = 0, oz = 0;
        for (int c = 0; c < 8; c++)
        {
            int di = c & 1, dj = (c >> 1) & 1, dk = (c >> 2) & 1;
            if (i0 + di >= g.NX || j0 + dj >= g.NY || k0 + dk >= g.NZ) continue;
            double w = (di == 1 ? fx : 1 - fx) * (dj == 1 ? fy : 1 - fy) * (dk == 1 ? fz : 1 - fz);
            var v = field[i0 + di, j0 + dj, k0 + dk];
            ox += w * v.X; oy += w * v.Y; oz += w * v.Z;
        }
        return (ox, oy, oz);
    }

    /// <summary>SynOptions with NAME=VALUE settings applied (arrays comma-separated, enums by name), for experiments with --one.</summary>
    internal static SynOptions WithSettings(SynOptions options, IEnumerable<string> settings)
    {
        // a preset first replaces every setting (Preset=Dipy: DIPY's defaults), the others then change single ones
        if (settings.FirstOrDefault(s => s.StartsWith("Preset=", StringComparison.OrdinalIgnoreCase)) is { } preset)
            options = SynOptions.For(Enum.Parse<SynPreset>(preset["Preset=".Length..], ignoreCase: true)) with { MaxDegreeOfParallelism = options.MaxDegreeOfParallelism };
        return WithSets(options, settings.Where(s => !s.StartsWith("Preset=", StringComparison.OrdinalIgnoreCase)), o => o with { });
    }

    private sealed class Measured
    {
        public double Wall { get; set; }
        public double Cpu { get; set; }
        public double PeakMb { get; set; }
        public double Inner { get; set; }
        public double Extra { get; set; }
        public double UserPeakMb { get; set; }
        public double Jit { get; set; }
        public string? Note { get; set; }
        public string? When { get; set; }
        [System.Text.Json.Serialization.JsonIgnore] public string Stdout { get; set; } = "";
    }

    /// <summary>Runs a process under GNU time: wall, user + system CPU, peak resident set of the process and its children.</summary>
    private static Measured Measure(string file, IEnumerable<string> args, Dictionary<string, string>? env, string? workDir = null)
    {
        var t = RunTimed(file, args, env, workDir);
        return new Measured { Wall = t.Wall, Cpu = t.Cpu, PeakMb = t.PeakMb, Stdout = t.Stdout };
    }

    /// <summary>elastix's registration time from its log: the pyramids plus every resolution.</summary>
    private static double ElastixSeconds(string log)
    {
        double s = 0;
        foreach (var line in File.ReadLines(log))
        {
            if (line.StartsWith("Preparation of the image pyramids took:", StringComparison.Ordinal))
                s += double.Parse(line.Split(':')[1].Trim().Split(' ')[0], CultureInfo.InvariantCulture) / 1000;
            else if (line.StartsWith("Time spent in resolution", StringComparison.Ordinal))
                s += double.Parse(line[(line.LastIndexOf(':') + 1)..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
        }
        return s;
    }

    private static JsonElement Evaluate(string script, string data, string c, string who)
    {
        if (Exec(PythonExe, new[] { script, "evaluate", data, c, who }, null, out var o, out _) != 0)
            throw new InvalidOperationException($"scoring {who} on {c} failed");
        return JsonDocument.Parse(LastLine(o)).RootElement;
    }

    private static string Score(JsonElement e, string key) =>
        e.TryGetProperty(key, out var v) ? F(v.GetDouble(), key == "final_cc" ? "0.0000" : "0.000") : "-";

    private static string Range(List<Measured> list, Func<Measured, double> get, string fmt)
    {
        var v = list.Select(get).ToList();
        return v.Count == 1 ? F(v[0], fmt) : $"{F(Median(v), fmt)} ({F(v.Min(), fmt)}-{F(v.Max(), fmt)})";
    }

    private static string F(double v, string fmt) => v.ToString(fmt, CultureInfo.InvariantCulture);

    private static string LastLine(string s) => s.Trim().Split('\n').Last();

    /// <summary>The built module (build.ps1 Build lays it out in out/RegPS/VERSION), newest version first.</summary>
    private static string? FindModule(string repoRoot)
    {
        var root = Path.Combine(repoRoot, "out", "RegPS");
        if (!Directory.Exists(root)) return null;
        return Directory.GetDirectories(root).Where(d => File.Exists(Path.Combine(d, "RegPS.psd1")))
            .OrderByDescending(d => Version.TryParse(Path.GetFileName(d), out var v) ? v : new Version(0, 0)).FirstOrDefault();
    }

    /// <summary>Per-kernel cost on a 128x128x62 field (ns per voxel, wall and process CPU).</summary>
    private static int Micro(int threads, int mx, int my, int mz)
    {
        var grid = mz == 1 ? Grid.Create2D(mx, my, 1, 1) : Grid.Create3D(mx, my, mz, 2, 2, 3);
        Console.WriteLine($"--- {grid}; Vector<float>.Count {System.Numerics.Vector<float>.Count}, Vector256 accelerated {System.Runtime.Intrinsics.Vector256.IsHardwareAccelerated}, Avx2 {System.Runtime.Intrinsics.X86.Avx2.IsSupported}");
        var fg = new RegPS.Engine.Fields.FieldGrid(grid);
        int n = grid.VoxelCount;
        var rnd = new Random(1);
        var a = new float[3 * n]; var b = new float[3 * n]; var c = new float[3 * n];
        for (int i = 0; i < a.Length; i++)
            if (mz > 1 || i % 3 != 2) { a[i] = (float)(rnd.NextDouble() - 0.5); b[i] = (float)(rnd.NextDouble() - 0.5); }
        var img = new float[n]; var img2 = new float[n];
        for (int i = 0; i < n; i++) { img[i] = (float)rnd.NextDouble(); img2[i] = (float)rnd.NextDouble(); }
        var rs = new double[grid.NY * grid.NZ]; var rm = new double[grid.NY * grid.NZ];
        var cc = new RegPS.Engine.Metrics.CrossCorrelationMetric(4, 2, grid.NY * grid.NZ);
        void T(string name, Action act)
        {
            if (Environment.GetEnvironmentVariable("FILTER") is { } flt && !name.Contains(flt, StringComparison.Ordinal)) return;
            act();
            var p = Process.GetCurrentProcess();
            var c0 = p.TotalProcessorTime; var sw = Stopwatch.StartNew();
            int reps = Math.Max(10, 10_000_000 / n);
            for (int r = 0; r < reps; r++) act();
            sw.Stop(); p.Refresh();
            var cpu = p.TotalProcessorTime - c0;
            Console.WriteLine($"{name,-22} wall {sw.Elapsed.TotalMilliseconds * 1e6 / n / reps:0.0} ns/voxel, cpu {cpu.TotalMilliseconds * 1e6 / n / reps:0.0} ns/voxel");
        }
        var z0 = new float[3 * n];
        T("compose zero d1", () => RegPS.Engine.Fields.FieldComposition.Compose(z0, b, fg, 1, c, rs, rm, threads));
        T("compose no stats", () => RegPS.Engine.Fields.FieldComposition.Compose(a, b, fg, 1, c, null, null, threads));
        T("compose", () => RegPS.Engine.Fields.FieldComposition.Compose(a, b, fg, 1, c, rs, rm, threads));
        T("invert (1 iter)", () => RegPS.Engine.Fields.FieldInversion.Invert(a, fg, 1, 0, 0, c, b, rs, rm, threads));
        T("compose 128-bit path", () => RegPS.Engine.Fields.FieldComposition.Compose(a, b, fg, 1, c, rs, rm, threads, RegPS.Engine.Simd.VectorPath.Vector128));
        T("compose scalar path", () => RegPS.Engine.Fields.FieldComposition.Compose(a, b, fg, 1, c, rs, rm, threads, RegPS.Engine.Simd.VectorPath.Scalar));
        T("invert 128-bit path", () => RegPS.Engine.Fields.FieldInversion.Invert(a, fg, 1, 0, 0, c, b, rs, rm, threads, RegPS.Engine.Simd.VectorPath.Vector128));
        T("invert scalar path", () => RegPS.Engine.Fields.FieldInversion.Invert(a, fg, 1, 0, 0, c, b, rs, rm, threads, RegPS.Engine.Simd.VectorPath.Scalar));
        T("warp", () => RegPS.Engine.Fields.FieldWarp.Warp(img, grid, Matrix4.Identity, a, fg, img2, threads));
        var cubicImg = RegPS.Engine.Fields.CubicImage.Create(img, grid, threads);
        T("warp cubic B-spline", () => RegPS.Engine.Fields.FieldWarp.WarpCubic(cubicImg, Matrix4.Identity, a, fg, img2, threads));
        T("warp cubic one by one", () => RegPS.Engine.Fields.FieldWarp.WarpCubic(cubicImg, Matrix4.Identity, a, fg, img2, threads, RegPS.Engine.Simd.VectorPath.Scalar));
        T("cubic image (prefilter, pad)", () => RegPS.Engine.Fields.CubicImage.Create(img, grid, threads));
        // a head-like image: random values inside an ellipsoid, zero around it (the prefilter's tails run into the zeros)
        var head = new float[n];
        for (int k = 0; k < mz; k++) for (int j = 0; j < my; j++) for (int i = 0; i < mx; i++)
        {
            double ex = (i - mx / 2.0) / (0.35 * mx), ey = (j - my / 2.0) / (0.35 * my), ez = mz == 1 ? 0 : (k - mz / 2.0) / (0.35 * mz);
            if (ex * ex + ey * ey + ez * ez < 1) head[(k * my + j) * mx + i] = img[(k * my + j) * mx + i];
        }
        var cubicHead = RegPS.Engine.Fields.CubicImage.Create(head, grid, threads);
        T("warp cubic, zero background", () => RegPS.Engine.Fields.FieldWarp.WarpCubic(cubicHead, Matrix4.Identity, a, fg, img2, threads));
        T("B-spline prefilter", () => RegPS.Engine.Filters.BSplinePrefilter.Coefficients(img, mx, my, mz, threads));
        T("warp 128-bit path", () => RegPS.Engine.Fields.FieldWarp.Warp(img, grid, Matrix4.Identity, a, fg, img2, threads, RegPS.Engine.Simd.VectorPath.Vector128));
        T("warp scalar path", () => RegPS.Engine.Fields.FieldWarp.Warp(img, grid, Matrix4.Identity, a, fg, img2, threads, RegPS.Engine.Simd.VectorPath.Scalar));
        var c2 = (float[])c.Clone();
        T("smooth u,v s=5 t=3", () => RegPS.Engine.Fields.FieldSmoothing.Smooth(new[] { c, c2 }, 3, mx, my, mz, mz == 1 ? new double[] { 5, 5, 0 } : new double[] { 5, 5, 5 }, threads, 3));
        if (mz > 1)
        {
            var decimated = new RegPS.Engine.Fields.DecimatedSmoothing();
            T("smooth u,v s=5 interpolated", () => decimated.Smooth(new[] { c, c2 }, mx, my, mz, new double[] { 5, 5, 5 }, 3, threads));
        }
        T("smooth u,v x only", () => RegPS.Engine.Fields.FieldSmoothing.Smooth(new[] { c, c2 }, 3, mx, my, mz, new double[] { 5, 0, 0 }, threads, 3));
        T("smooth u,v xy", () => RegPS.Engine.Fields.FieldSmoothing.Smooth(new[] { c, c2 }, 3, mx, my, mz, new double[] { 5, 5, 0 }, threads, 3));
        T("smooth u,v z only", () => RegPS.Engine.Fields.FieldSmoothing.Smooth(new[] { c, c2 }, 3, mx, my, mz, new double[] { 0, 0, 5 }, threads, 3));
        var imgCopy = (float[])img.Clone();
        T("image smoothing 0.6,0.6,0.33", () => { Array.Copy(img, imgCopy, n); RegPS.Engine.Filters.Gaussian.SmoothInPlace(imgCopy, mx, my, mz, new[] { 0.6, 0.6, 0.33 }, threads); });
        T("image smoothing 0.2,0.2,0.07", () => { Array.Copy(img, imgCopy, n); RegPS.Engine.Filters.Gaussian.SmoothInPlace(imgCopy, mx, my, mz, new[] { 0.2, 0.2, 0.0667 }, threads); });
        T("smooth field s=2", () => RegPS.Engine.Fields.FieldSmoothing.Smooth(c, 3, mx, my, mz, mz == 1 ? new double[] { 2, 2, 0 } : new double[] { 2, 2, 2 }, threads));
        if (mz > 1)
        {
            var cgrid = Grid.Create3D(mx / 2, my / 2, (int)(mz * 0.75 + 0.5), 4, 4, 4);
            var cfg = new RegPS.Engine.Fields.FieldGrid(cgrid);
            var coarse = new float[3 * cgrid.VoxelCount];
            for (int i = 0; i < coarse.Length; i++) coarse[i] = (float)(rnd.NextDouble() - 0.5);
            T("expand 0.5,0.5,0.75", () => RegPS.Engine.Fields.FieldExpansion.Expand(coarse, cfg, fg, new[] { 0.5, 0.5, 0.75 }, c, threads));
        }
        var sums = new double[5 * n];
        T("box sums r=4", () => RegPS.Engine.Metrics.CrossCorrelationMetric.BoxSums(img, img2, mx, my, mz, 4, sums, threads));
        T("cc steps (incl smooth)", () => cc.ComputeSteps(img, img2, fg, b, c, threads));
        // SyN's default metric: radius 2, sigma 5 cut at 3 sigma, the 3D smoothing interpolated between every second row
        var ccDefault = new RegPS.Engine.Metrics.CrossCorrelationMetric(2, 5, grid.NY * grid.NZ, 3, interpolatedSmoothing: true);
        T("cc steps r2 s5 t3", () => ccDefault.ComputeSteps(img, img2, fg, b, c, threads));
        var ccExact = new RegPS.Engine.Metrics.CrossCorrelationMetric(2, 5, grid.NY * grid.NZ, 3);
        T("cc steps r2 s5 t3 exact smoothing", () => ccExact.ComputeSteps(img, img2, fg, b, c, threads));
        if (mz > 1)
        {
            var ccStream = new RegPS.Engine.Metrics.CrossCorrelationMetric(2, 5, grid.NY * grid.NZ, 3, interpolatedSmoothing: true) { StreamSlices = true };
            var ccWhole = new RegPS.Engine.Metrics.CrossCorrelationMetric(2, 5, grid.NY * grid.NZ, 3, interpolatedSmoothing: true) { StreamSlices = false };
            T("cc steps r2 s5 t3 streamed", () => ccStream.ComputeSteps(img, img2, fg, b, c, threads));
            T("cc steps r2 s5 t3 whole volume", () => ccWhole.ComputeSteps(img, img2, fg, b, c, threads));
        }
        T("box sums r=2", () => RegPS.Engine.Metrics.CrossCorrelationMetric.BoxSums(img, img2, mx, my, mz, 2, sums, threads));
        var cc128 = new RegPS.Engine.Metrics.CrossCorrelationMetric(4, 2, grid.NY * grid.NZ) { Path = RegPS.Engine.Simd.VectorPath.Vector128 };
        var ccScalar = new RegPS.Engine.Metrics.CrossCorrelationMetric(4, 2, grid.NY * grid.NZ) { Path = RegPS.Engine.Simd.VectorPath.Scalar };
        T("cc steps 128-bit path", () => cc128.ComputeSteps(img, img2, fg, b, c, threads));
        T("cc steps scalar path", () => ccScalar.ComputeSteps(img, img2, fg, b, c, threads));
        return 0;
    }

    private static void WriteField(string path, DisplacementField f)
    {
        var v = f.Values.ToArray();
        var bytes = new byte[v.Length * 4];
        Buffer.BlockCopy(v, 0, bytes, 0, bytes.Length);
        File.WriteAllBytes(path, bytes);
    }

}

/// <summary>
/// What the JIT compiler compiles during a registration (`compare syn --one DIR --jit-trace N`): the runtime's JIT
/// events, each method's time from its jitting-started to its load event on the same thread, summed per optimisation
/// tier (2 fully optimised, 3 tier 0, 4 tier 1, 5 on-stack replacement, 6 tier 0 instrumented) and per thread, and the
/// N slowest methods, on standard error. The listener's own methods show up too.
/// </summary>
internal sealed class JitTrace(int top) : System.Diagnostics.Tracing.EventListener
{
    private readonly System.Collections.Concurrent.ConcurrentDictionary<long, (DateTime Start, int Thread)> _start = new();
    private readonly System.Collections.Concurrent.ConcurrentBag<(string Name, double Ms, long Tier, int Thread)> _done = new();
    protected override void OnEventSourceCreated(System.Diagnostics.Tracing.EventSource source)
    {
        if (source.Name == "Microsoft-Windows-DotNETRuntime") EnableEvents(source, System.Diagnostics.Tracing.EventLevel.Verbose, (System.Diagnostics.Tracing.EventKeywords)0x10);
    }
    protected override void OnEventWritten(System.Diagnostics.Tracing.EventWrittenEventArgs e)
    {
        if (e.EventName is null || e.Payload is null) return;
        if (e.EventName.StartsWith("MethodJittingStarted", StringComparison.Ordinal))
            _start[Convert.ToInt64(e.Payload[e.PayloadNames!.IndexOf("MethodID")])] = (e.TimeStamp, (int)e.OSThreadId);
        else if (e.EventName.StartsWith("MethodLoadVerbose", StringComparison.Ordinal))
        {
            long id = Convert.ToInt64(e.Payload[e.PayloadNames!.IndexOf("MethodID")]);
            long flags = Convert.ToInt64(e.Payload[e.PayloadNames.IndexOf("MethodFlags")]);
            string name = e.Payload[e.PayloadNames.IndexOf("MethodNamespace")] + "::" + e.Payload[e.PayloadNames.IndexOf("MethodName")];
            if (_start.TryRemove(id, out var st)) _done.Add((name, (e.TimeStamp - st.Start).TotalMilliseconds, (flags >> 7) & 7, st.Thread));
        }
    }
    public void Report()
    {
        // the runtime hands events to listeners on its own thread: give it time to pass on the last ones
        System.Threading.Thread.Sleep(500);
        var all = _done.ToList();
        foreach (var g in all.GroupBy(d => d.Tier)) Console.Error.WriteLine($"tier {g.Key}: {g.Count()} methods, {g.Sum(d => d.Ms):0} ms");
        foreach (var g in all.GroupBy(d => d.Thread)) Console.Error.WriteLine($"thread {g.Key}: {g.Count()} methods, {g.Sum(d => d.Ms):0} ms");
        foreach (var d in all.OrderByDescending(d => d.Ms).Take(top)) Console.Error.WriteLine($"{d.Ms,8:0.0} ms t{d.Tier} th{d.Thread} {d.Name}");
    }
}
