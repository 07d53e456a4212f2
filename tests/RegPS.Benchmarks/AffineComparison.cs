using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using RegPS.Engine.Images;
using RegPS.Engine.IO;
using RegPS.Engine.Registration;

using static RegPS.Benchmarks.BenchSupport;

namespace RegPS.Benchmarks;

/// <summary>
/// RegPS's affine registration side by side with elastix 5 (Debian `elastix`) and DIPY 1.6 on the same files:
/// real images moved by known transforms (tests/bench/affine_cases.py prepare): ITK's proton-density slice under a
/// rigid motion and under an affine, ITK's T1 slice moved rigidly and registered to the proton-density slice (two
/// contrasts), ITK's 3D T1 (128x128x62, 2x2x3 mm) moved by an affine and stored on a 2.5 mm RAS grid, and the Colin27
/// T1 at 1 mm on MNI152NLin2009cAsym's 193x229x193 grid (mricron-data) moved by an affine.
/// <para>Every tool runs as its own process on the NIfTI files, with the same thread count, under GNU time (wall, CPU
/// = user + system, peak resident set). The rounds alternate the order of the tools (RegPS, elastix; then elastix,
/// RegPS; ...) so a slow stretch of this shared machine falls on both; the speed-up is the median of the rounds'
/// ratios with their range. RegPS's process reads the files, registers and prints the matrix; its registration time
/// alone is printed too. DIPY runs once per case (it takes 1-2 minutes on the 3D T1 and about 40 minutes at 1 mm,
/// so the 1 mm case needs --dipy-big); its matrix is cached in the case folder and reused with --reuse-dipy.</para>
/// <para>Error: the mean over the mask (the brain in 3D, the head in 2D) of |A x - T x| in mm (pixels in 2D), A the
/// tool's static-world -> moving-world matrix and T the known one.</para>
/// Usage: compare affine [--data DIR] [--cases a,b] [--rounds N] [--threads N] [--preset NAME] [--no-dipy] [--dipy-big]
///        [--reuse-dipy] [--no-elastix] [--set Option=Value ...]
///        compare affine --one CASEDIR [--threads N] [--preset NAME] [--set Option=Value ...]   (one RegPS run, JSON)
/// </summary>
public sealed class AffineComparison : IComparison
{
    public string Name => "affine";
    public string Description => "Affine MI registration vs elastix 5 and DIPY 1.6 on known transforms: time, CPU, memory, error";

    private const string Python = "/usr/bin/python3";
    private static readonly string[] AllCases = { "2d_rigid", "2d_affine", "2d_multimodal", "3d_t1", "3d_1mm", "3d_two_subjects" };

    public int Run(string[] args)
    {
        string threads = Option(args, "--threads") ?? "2";
        string preset = Option(args, "--preset") ?? "Default";
        var sets = Options(args, "--set");
        if (Option(args, "--one") is { } one) return RunOne(one, int.Parse(threads, CultureInfo.InvariantCulture), preset, sets);

        string data = Option(args, "--data") ?? Path.Combine(Path.GetTempPath(), "regps-affine-bench2");
        var cases = (Option(args, "--cases") ?? string.Join(",", AllCases)).Split(',', StringSplitOptions.RemoveEmptyEntries).ToList();
        int rounds = int.Parse(Option(args, "--rounds") ?? "3", CultureInfo.InvariantCulture);
        bool runDipy = !args.Contains("--no-dipy"), dipyBig = args.Contains("--dipy-big"), reuseDipy = args.Contains("--reuse-dipy");
        bool runElastix = !args.Contains("--no-elastix");
        string script = FindFile("tests/bench/affine_cases.py");
        string paramFile = FindFile("tests/bench/elastix_affine.txt");
        if (runElastix && !File.Exists("/usr/bin/elastix"))
        {
            Console.Error.WriteLine("elastix is not installed (apt-get install -y elastix); running without it.");
            runElastix = false;
        }
        if (!cases.All(c => File.Exists(Path.Combine(data, c, "truth.json"))))
        {
            Console.WriteLine($"Preparing inputs in {data} ...");
            if (Exec(Python, new[] { script, "prepare", data }, out _, out _) != 0) return 1;
            cases = cases.Where(c => File.Exists(Path.Combine(data, c, "truth.json"))).ToList(); // 3d_1mm needs mricron-data
        }

        var self = Environment.ProcessPath!;
        var selfArgs = new List<string>();
        if (Path.GetFileNameWithoutExtension(self) == "dotnet") selfArgs.Add(typeof(AffineComparison).Assembly.Location);
        var rows = new List<string[]>();
        foreach (var c in cases)
        {
            string dir = Path.Combine(data, c);
            var st = NiftiReader.Read(Path.Combine(dir, "static.nii"));
            var mask = NiftiReader.Read(Path.Combine(dir, "mask.nii"));
            var truthElement = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "truth.json"))).RootElement.GetProperty("affine");
            Matrix4? known = truthElement.ValueKind == JsonValueKind.Null ? null : MatrixFrom(truthElement);
            var regps = new List<Measured>();
            var elastix = new List<Measured>();
            for (int r = 0; r < rounds; r++)
            {
                void RunRegPS()
                {
                    var a = new List<string>(selfArgs) { "compare", "affine", "--one", dir, "--threads", threads, "--preset", preset };
                    foreach (var s in sets) { a.Add("--set"); a.Add(s); }
                    var m = Measure(self, a);
                    var json = JsonDocument.Parse(m.Stdout.Trim().Split('\n').Last()).RootElement;
                    m.Matrix = MatrixFrom(json.GetProperty("matrix"));
                    m.Inner = json.GetProperty("seconds").GetDouble();
                    m.Evaluations = json.GetProperty("evaluations").GetString();
                    regps.Add(m);
                }
                void RunElastix()
                {
                    string outDir = Path.Combine(dir, "elastix");
                    if (Directory.Exists(outDir)) Directory.Delete(outDir, true);
                    Directory.CreateDirectory(outDir);
                    var m = Measure("/usr/bin/elastix", new[] { "-f", Path.Combine(dir, "static.nii"), "-m", Path.Combine(dir, "moving.nii"),
                        "-p", paramFile, "-out", outDir, "-threads", threads });
                    if (Exec(Python, new[] { script, "elastix", outDir }, out var o, out _) != 0) throw new InvalidOperationException("could not read elastix's result");
                    m.Matrix = MatrixFrom(JsonDocument.Parse(o.Trim().Split('\n').Last()).RootElement.GetProperty("matrix"));
                    elastix.Add(m);
                }
                Console.Error.WriteLine($"[{c}] round {r + 1}/{rounds}");
                if (r % 2 == 0) { RunRegPS(); if (runElastix) RunElastix(); }
                else { if (runElastix) RunElastix(); RunRegPS(); }
            }
            Measured? dipy = null;
            string dipyCache = Path.Combine(dir, "dipy.json");
            if (runDipy && (!c.StartsWith("3d_1mm", StringComparison.Ordinal) && c != "3d_two_subjects" || dipyBig))
            {
                if (reuseDipy && File.Exists(dipyCache)) dipy = JsonSerializer.Deserialize<Measured>(File.ReadAllText(dipyCache));
                else
                {
                    Console.Error.WriteLine($"[{c}] DIPY (slow) ...");
                    dipy = Measure(Python, new[] { script, "dipy", dir });
                    dipy.Matrix = MatrixFrom(JsonDocument.Parse(dipy.Stdout.Trim().Split('\n').Last()).RootElement.GetProperty("matrix"));
                    dipy.Stdout = "";
                    File.WriteAllText(dipyCache, JsonSerializer.Serialize(dipy));
                }
            }
            // Without a known transform (two subjects), every tool is measured against elastix's first result.
            if (known is null && elastix.Count == 0) throw new InvalidOperationException($"{c} has no known transform and needs elastix as the reference");
            var truth = known ?? elastix[0].Matrix!.Value;
            double rErr = MeanError(mask, regps[0].Matrix!.Value, truth);
            if (regps.Any(m => m.Matrix != regps[0].Matrix)) throw new InvalidOperationException($"{c}: RegPS gave different matrices in different runs");
            var eErrs = known is null ? new List<double>() : elastix.Select(m => MeanError(mask, m.Matrix!.Value, truth)).ToList();
            var ratios = elastix.Count == regps.Count ? elastix.Zip(regps, (e, p) => e.Wall / p.Wall).ToList() : new List<double>();
            rows.Add(new[]
            {
                c, string.Join("x", st.Grid.Shape),
                $"{Median(regps.Select(m => m.Wall)):0.00} ({Median(regps.Select(m => m.Inner)):0.00})",
                runElastix ? $"{Median(elastix.Select(m => m.Wall)):0.00}" : "-",
                dipy is null ? "-" : $"{dipy.Wall:0.0}",
                ratios.Count > 0 ? $"{Median(ratios):0.0}x ({ratios.Min():0.0}-{ratios.Max():0.0})" : "-",
                $"{Median(regps.Select(m => m.Cpu)):0.00} / {(runElastix ? Median(elastix.Select(m => m.Cpu)).ToString("0.00", CultureInfo.InvariantCulture) : "-")} / {(dipy is null ? "-" : dipy.Cpu.ToString("0.0", CultureInfo.InvariantCulture))}",
                $"{Median(regps.Select(m => m.PeakMb)):0} / {(runElastix ? Median(elastix.Select(m => m.PeakMb)).ToString("0", CultureInfo.InvariantCulture) : "-")} / {(dipy is null ? "-" : dipy.PeakMb.ToString("0", CultureInfo.InvariantCulture))}",
                $"{rErr:0.0000} / {(eErrs.Count > 0 ? $"{Median(eErrs):0.0000} ({eErrs.Min():0.000}-{eErrs.Max():0.000})" : "-")} / {(dipy is null ? "-" : MeanError(mask, dipy.Matrix!.Value, truth).ToString("0.0000", CultureInfo.InvariantCulture))}",
                regps[0].Evaluations ?? "",
            });
            Console.WriteLine(string.Join(" | ", rows[^1]));
        }
        Console.WriteLine();
        PrintTable(new[] { "case", "static", "RegPS s (registration)", "elastix s", "DIPY s", "elastix/RegPS", "CPU s RegPS/elastix/DIPY",
            "peak MB RegPS/elastix/DIPY", "mean error RegPS/elastix (range)/DIPY", "RegPS evaluations" }, rows);
        Console.WriteLine($"RegPS preset {preset}{(sets.Count > 0 ? " with " + string.Join(", ", sets) : "")}; {rounds} rounds, tools alternating; {threads} threads for RegPS and elastix (DIPY 1.6 is single-threaded). " +
            "Times: process wall time, medians over the rounds (RegPS's registration alone in brackets); speed-up: median (range) of the rounds' elastix/RegPS ratios. " +
            "Error: mean |A x - T x| over the mask, mm (2D: px); for two subjects (no known T) the distance to elastix's result. " +
            $"Load average at the end: {File.ReadAllText("/proc/loadavg").Split(' ')[0]}.");
        return 0;
    }

    private sealed class Measured
    {
        public double Wall { get; set; }
        public double Cpu { get; set; }
        public double PeakMb { get; set; }
        public double Inner { get; set; }
        public string? Evaluations { get; set; }
        public string Stdout { get; set; } = "";
        public double[][]? Rows { get => Matrix?.ToRows(); set => Matrix = value is null ? null : Matrix4.FromRows(value); }
        [System.Text.Json.Serialization.JsonIgnore] public Matrix4? Matrix { get; set; }
    }

    /// <summary>Runs a process under GNU time: wall, user + system CPU, peak resident set.</summary>
    private static Measured Measure(string file, IEnumerable<string> args)
    {
        var t = RunTimed(file, args);
        return new Measured { Wall = t.Wall, Cpu = t.Cpu, PeakMb = t.PeakMb, Stdout = t.Stdout };
    }

    /// <summary>One RegPS run on a case folder: read the NIfTI files, register, print the matrix and times as JSON.</summary>
    private static int RunOne(string dir, int threads, string preset, List<string> sets)
    {
        var st = NiftiReader.Read(Path.Combine(dir, "static.nii"));
        var mv = NiftiReader.Read(Path.Combine(dir, "moving.nii"));
        var options = WithSets(AffineOptions.ForPreset(Enum.Parse<AffinePreset>(preset, true)) with { MaxDegreeOfParallelism = threads }, sets, o => o with { });
        if (Environment.GetEnvironmentVariable("REGPS_BENCH_INIT_TRUTH") == "1")
            options = options with { Initialization = AffineInitialization.Matrix, InitialMatrix = MatrixFrom(JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "truth.json"))).RootElement.GetProperty("affine")) };
        if (Environment.GetEnvironmentVariable("REGPS_BENCH_STATIC_MASK") == "1") options = options with { StaticMask = NiftiReader.Read(Path.Combine(dir, "mask.nii")) };
        var sw = Stopwatch.StartNew();
        IProgress<RegistrationProgress>? trace = null;
        if (Environment.GetEnvironmentVariable("REGPS_BENCH_TRACE") == "1")
        {
            double last = 0, lastCpu = 0;
            var proc = Process.GetCurrentProcess();
            trace = new SyncProgress(p =>
            {
                if (p.Message is null) return;
                double now = sw.Elapsed.TotalMilliseconds;
                proc.Refresh();
                double cpu = proc.TotalProcessorTime.TotalMilliseconds;
                Console.Error.WriteLine($"{now,8:F0} ms (previous level +{now - last,6:F0} ms, cpu +{cpu - lastCpu,6:F0} ms) {p.Message}");
                last = now; lastCpu = cpu;
            });
        }
        var map = AffineRegistration.Register(st, mv, options, trace);
        if (Environment.GetEnvironmentVariable("REGPS_BENCH_WARM") == "1")
        {
            // A second run in the same process (JIT done), for profiling the steady state.
            Console.Error.WriteLine($"cold run {sw.Elapsed.TotalMilliseconds:F0} ms; warm run:");
            sw.Restart();
            map = AffineRegistration.Register(st, mv, options, trace);
            Console.Error.WriteLine($"warm run {sw.Elapsed.TotalMilliseconds:F0} ms");
        }
        sw.Stop();
        string truthPath = Path.Combine(dir, "truth.json"), maskPath = Path.Combine(dir, "mask.nii");
        var known = File.Exists(truthPath) ? JsonDocument.Parse(File.ReadAllText(truthPath)).RootElement.GetProperty("affine") : default;
        double error = known.ValueKind == JsonValueKind.Array && File.Exists(maskPath)
            ? MeanError(NiftiReader.Read(maskPath), map.Affine, MatrixFrom(known))
            : double.NaN;
        Console.WriteLine(JsonSerializer.Serialize(new
        {
            error = double.IsFinite(error) ? error.ToString("0.00000", CultureInfo.InvariantCulture) : "-",
            matrix = map.Affine.ToRows(),
            seconds = sw.Elapsed.TotalSeconds,
            evaluations = string.Join(" ", map.IterationsPerLevel),
            mi = map.Metric,
        }));
        return 0;
    }

    /// <summary>Mean over the mask's nonzero voxels x (world) of |A x - T x|.</summary>
    internal static double MeanError(Image mask, Matrix4 a, Matrix4 t)
    {
        var g = mask.Grid;
        double sum = 0;
        long n = 0;
        for (int k = 0; k < g.NZ; k++)
            for (int j = 0; j < g.NY; j++)
                for (int i = 0; i < g.NX; i++)
                {
                    if (mask[i, j, k] == 0) continue;
                    var (x, y, z) = g.ToWorld(i, j, k);
                    var p = a.Apply(x, y, z);
                    var q = t.Apply(x, y, z);
                    sum += Math.Sqrt((p.X - q.X) * (p.X - q.X) + (p.Y - q.Y) * (p.Y - q.Y) + (p.Z - q.Z) * (p.Z - q.Z));
                    n++;
                }
        return sum / n;
    }

    private sealed class SyncProgress(Action<RegistrationProgress> a) : IProgress<RegistrationProgress>
    {
        public void Report(RegistrationProgress value) => a(value);
    }

}
