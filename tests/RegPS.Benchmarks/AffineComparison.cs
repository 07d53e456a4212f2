using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using RegPS.Engine.Images;
using RegPS.Engine.Registration;

namespace RegPS.Benchmarks;

/// <summary>
/// RegPS affine registration against DIPY 1.6 on the same inputs: the ITK proton-density slice (2D), the ITK T1 volume
/// (128x128x62, 2x2x3 mm) and that T1 resampled to 193x229x193 at 1 mm, each moved by a known affine
/// (tests/bench/affine_bench.py prepare). Both run the same pipeline: centres of mass -> translation -> rigid -> affine,
/// MI 32 bins, level iterations 10000/1000/100, sigmas 3/1/0, factors 4/2/1, dense sampling. Each side runs in its own
/// process so peak memory is per case (RegPS: peak working set; DIPY: getrusage maxrss).
/// Usage: compare affine [--data DIR] [--cases a,b] [--reuse-dipy] [--skip-dipy] [--threads N]
/// </summary>
public sealed class AffineComparison : IComparison
{
    public string Name => "affine";
    public string Description => "Affine MI registration (translation/rigid/affine chain) vs DIPY 1.6: time, peak memory, mean displacement error";

    private const string Python = "/usr/bin/python3";

    public int Run(string[] args)
    {
        if (args.Length >= 2 && args[0] == "--profile") return Profile(args[1]);
        if (args.Length >= 2 && args[0] == "--one") return RunOne(args[1], args.Length >= 4 && args[2] == "--threads" ? int.Parse(args[3], CultureInfo.InvariantCulture) : 0);
        string data = Option(args, "--data") ?? Path.Combine(Path.GetTempPath(), "regps-affine-bench");
        var cases = (Option(args, "--cases") ?? "2d_itk_slice,3d_itk_t1,3d_t1_1mm").Split(',', StringSplitOptions.RemoveEmptyEntries);
        bool reuse = args.Contains("--reuse-dipy"), skipDipy = args.Contains("--skip-dipy");
        string threads = Option(args, "--threads") ?? "0";
        string script = FindScript();
        if (!cases.All(c => File.Exists(Path.Combine(data, c, "truth.json"))))
        {
            Console.WriteLine($"Preparing inputs in {data} ...");
            if (Exec(Python, new[] { script, "prepare", data }, out _) != 0) return 1;
        }
        var rows = new List<string[]>();
        foreach (var c in cases)
        {
            string dir = Path.Combine(data, c);
            var truth = ReadMatrix(Path.Combine(dir, "truth.json"), "affine");
            var (st, _) = ReadImage(Path.Combine(dir, "static"));
            // RegPS in a child process.
            var self = Environment.ProcessPath!;
            var childArgs = new List<string>();
            if (Path.GetFileNameWithoutExtension(self) == "dotnet") childArgs.Add(typeof(AffineComparison).Assembly.Location);
            childArgs.AddRange(new[] { "compare", "affine", "--one", dir, "--threads", threads });
            if (Exec(self, childArgs, out var childOut) != 0) return 1;
            var regps = JsonDocument.Parse(childOut.Trim().Split('\n').Last()).RootElement;
            var regpsMatrix = MatrixFrom(regps.GetProperty("matrix"));
            double regpsErr = MeanError(st.Grid, regpsMatrix, truth);
            double regpsSec = regps.GetProperty("seconds").GetDouble(), regpsMb = regps.GetProperty("peak_mb").GetDouble();
            double regpsCpu = regps.GetProperty("cpu_seconds").GetDouble(), regpsWarm = regps.GetProperty("warm_seconds").GetDouble();
            string dipyPath = Path.Combine(dir, "dipy.json");
            if (!skipDipy && !(reuse && File.Exists(dipyPath)))
            {
                Console.WriteLine($"Running DIPY on {c} (slow) ...");
                if (Exec(Python, new[] { script, "dipy", dir }, out _) != 0) return 1;
            }
            double dipySec = double.NaN, dipyMb = double.NaN, dipyErr = double.NaN, dipyCpu = double.NaN;
            if (File.Exists(dipyPath) && !skipDipy)
            {
                var dj = JsonDocument.Parse(File.ReadAllText(dipyPath)).RootElement;
                dipySec = dj.GetProperty("seconds").GetDouble();
                if (dj.TryGetProperty("cpu_seconds", out var dc)) dipyCpu = dc.GetDouble();
                dipyMb = dj.GetProperty("maxrss_mb").GetDouble();
                dipyErr = MeanError(st.Grid, MatrixFrom(dj.GetProperty("matrix")), truth);
            }
            rows.Add(new[]
            {
                c, string.Join("x", st.Grid.Shape),
                F(regpsSec, "0.00"), F(regpsWarm, "0.00"), F(dipySec, "0.00"), F(dipySec / regpsSec, "0.0") + "x",
                F(regpsCpu, "0.00"), F(dipyCpu, "0.00"),
                F(regpsMb, "0"), F(dipyMb, "0"),
                F(regpsErr, "0.0000"), F(dipyErr, "0.0000"),
            });
            Console.WriteLine($"{c}: RegPS {regpsSec:F2} s, {regpsMb:F0} MB, error {regpsErr:F4} mm; DIPY {dipySec:F2} s, {dipyMb:F0} MB, error {dipyErr:F4} mm");
        }
        var header = new[] { "case", "shape", "RegPS s", "RegPS warm s", "DIPY s", "speed-up", "RegPS cpu s", "DIPY cpu s", "RegPS MB", "DIPY MB", "RegPS err mm", "DIPY err mm" };
        Console.WriteLine();
        PrintTable(header, rows);
        Console.WriteLine($"Load average at the end: {File.ReadAllText("/proc/loadavg").Split(' ')[0]} (shared machine: wall times include waiting for a core; cpu s is user+system time).");
        Console.WriteLine($"Error: mean over all static voxels of |A_est x - A_true x| (mm). Threads for RegPS: {(threads == "0" ? Environment.ProcessorCount.ToString(CultureInfo.InvariantCulture) : threads)}; DIPY 1.6 is single-threaded.");
        return 0;
    }

    private static int RunOne(string dir, int threads)
    {
        var (st, _) = ReadImage(Path.Combine(dir, "static"));
        var (mv, _) = ReadImage(Path.Combine(dir, "moving"));
        using var proc = Process.GetCurrentProcess();
        var cpu0 = proc.TotalProcessorTime;
        var sw = Stopwatch.StartNew();
        var map = AffineRegistration.Register(st, mv, new AffineOptions { MaxDegreeOfParallelism = threads });
        sw.Stop();
        proc.Refresh();
        double cpu = (proc.TotalProcessorTime - cpu0).TotalSeconds;
        long peak = proc.PeakWorkingSet64;
        // A second, warm call (JIT done): what a session that registers several images sees.
        var warmClock = Stopwatch.StartNew();
        var warm = AffineRegistration.Register(st, mv, new AffineOptions { MaxDegreeOfParallelism = threads });
        warmClock.Stop();
        if (warm.Affine != map.Affine) throw new InvalidOperationException("Two runs on the same inputs gave different matrices.");
        var json = JsonSerializer.Serialize(new
        {
            matrix = map.Affine.ToRows(),
            seconds = sw.Elapsed.TotalSeconds,
            cpu_seconds = cpu,
            warm_seconds = warmClock.Elapsed.TotalSeconds,
            peak_mb = peak / (1024.0 * 1024.0),
            evaluations = map.IterationsPerLevel,
            mi = map.Metric,
        });
        Console.WriteLine(json);
        return 0;
    }

    /// <summary>Time of the pyramid build and of one metric evaluation per level (for tuning).</summary>
    private static int Profile(string dir)
    {
        var (st, _) = ReadImage(Path.Combine(dir, "static"));
        var (mv, _) = ReadImage(Path.Combine(dir, "moving"));
        for (int rep = 0; rep < 3; rep++)
        {
            var clock = Stopwatch.StartNew();
            var marks = new List<string>();
            int evals = 0;
            var prog = new SyncProgress(p => { if (p.Message is not null) marks.Add($"{clock.Elapsed.TotalMilliseconds:F0}ms {p.Message}"); else evals++; });
            AffineRegistration.Register(st, mv, new AffineOptions(), prog);
            Console.WriteLine($"run {rep}: {clock.Elapsed.TotalMilliseconds:F0} ms, {evals} evals; " + string.Join(" | ", marks));
        }
        int[] factors = { 4, 2, 1 };
        double[] sigmas = { 3, 1, 0 };
        var centre = new double[] { 0, 0, 0 };
        var h = new double[12];
        for (int l = 0; l < 3; l++)
        {
            var sw = Stopwatch.StartNew();
            var level = RegPS.Engine.Registration.Affine.AffinePyramid.Build(st, mv, null, null, 32, factors[l], sigmas[l], null, 1, 0);
            double build = sw.Elapsed.TotalMilliseconds;
            var metric = new RegPS.Engine.Metrics.MattesMutualInformation(32, level.Static, level.Moving, mv.Grid, level.MovingMin, level.MovingMax, null, 0);
            var w = mv.Grid.WorldToGrid * Matrix4.Translation(0.3, 0.2, 0.1);
            var metric1 = new RegPS.Engine.Metrics.MattesMutualInformation(32, level.Static, level.Moving, mv.Grid, level.MovingMin, level.MovingMax, null, 1);
            metric.Evaluate(w, centre, h, true);
            metric1.Evaluate(w, centre, h, true);
            double eval = double.MaxValue, cpu = double.MaxValue;
            for (int r = 0; r < 15; r++)
            {
                sw.Restart();
                metric.Evaluate(w, centre, h, true);
                eval = Math.Min(eval, sw.Elapsed.TotalMilliseconds);
                sw.Restart();
                metric1.Evaluate(w, centre, h, true);
                cpu = Math.Min(cpu, sw.Elapsed.TotalMilliseconds);
            }
            double valueOnly = double.MaxValue;
            for (int r = 0; r < 15; r++)
            {
                sw.Restart();
                metric1.Evaluate(w, centre, h, false);
                valueOnly = Math.Min(valueOnly, sw.Elapsed.TotalMilliseconds);
            }
            Console.Write($"[value only 1 thread {valueOnly:F2} ms] ");
            Console.WriteLine($"level {l}: build {build:F1} ms, samples {level.Static.Count}, eval min {eval:F2} ms all threads, {cpu:F2} ms 1 thread ({cpu * 1e6 / level.Static.Count:F1} ns/sample 1 thread)");
        }
        return 0;
    }

    internal static (Image Image, double[][] Affine) ReadImage(string stem)
    {
        var meta = JsonDocument.Parse(File.ReadAllText(stem + ".json")).RootElement;
        var shape = meta.GetProperty("shape").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        var rows = meta.GetProperty("affine").EnumerateArray().Select(r => r.EnumerateArray().Select(v => v.GetDouble()).ToArray()).ToArray();
        var bytes = File.ReadAllBytes(stem + ".raw");
        var data = new float[bytes.Length / 4];
        Buffer.BlockCopy(bytes, 0, data, 0, bytes.Length);
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException();
        var g2w = Matrix4.FromRows(rows);
        var grid = shape.Length == 2 ? new Grid(shape[0], shape[1], 1, g2w, 2) : new Grid(shape[0], shape[1], shape[2], g2w, 3);
        return (Image.FromVoxels(grid, data), rows);
    }

    private static Matrix4 ReadMatrix(string path, string property) =>
        MatrixFrom(JsonDocument.Parse(File.ReadAllText(path)).RootElement.GetProperty(property));

    private static Matrix4 MatrixFrom(JsonElement e) =>
        Matrix4.FromRows(e.EnumerateArray().Select(r => r.EnumerateArray().Select(v => v.GetDouble()).ToArray()).ToArray());

    /// <summary>Mean over every static voxel centre x of |A x - T x| in mm.</summary>
    internal static double MeanError(Grid g, Matrix4 a, Matrix4 t)
    {
        double sum = 0;
        for (int k = 0; k < g.NZ; k++)
            for (int j = 0; j < g.NY; j++)
                for (int i = 0; i < g.NX; i++)
                {
                    var (x, y, z) = g.ToWorld(i, j, k);
                    var p = a.Apply(x, y, z);
                    var q = t.Apply(x, y, z);
                    sum += Math.Sqrt((p.X - q.X) * (p.X - q.X) + (p.Y - q.Y) * (p.Y - q.Y) + (p.Z - q.Z) * (p.Z - q.Z));
                }
        return sum / g.VoxelCount;
    }

    private static string F(double v, string fmt) => double.IsFinite(v) ? v.ToString(fmt, CultureInfo.InvariantCulture) : "-";

    private static string? Option(string[] args, string name)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }

    private static string FindScript()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
        {
            var p = Path.Combine(d.FullName, "tests", "bench", "affine_bench.py");
            if (File.Exists(p)) return p;
        }
        throw new FileNotFoundException("tests/bench/affine_bench.py not found above " + AppContext.BaseDirectory);
    }

    private static int Exec(string file, IEnumerable<string> args, out string stdout)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        stdout = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) Console.Error.WriteLine($"{file} {string.Join(" ", args)} exited with {p.ExitCode}");
        return p.ExitCode;
    }

    private static void PrintTable(string[] header, List<string[]> rows)
    {
        var w = header.Select((h, i) => Math.Max(h.Length, rows.Count == 0 ? 0 : rows.Max(r => r[i].Length))).ToArray();
        Console.WriteLine("| " + string.Join(" | ", header.Select((h, i) => h.PadRight(w[i]))) + " |");
        Console.WriteLine("|" + string.Join("|", w.Select(x => new string('-', x + 2))) + "|");
        foreach (var r in rows) Console.WriteLine("| " + string.Join(" | ", r.Select((c, i) => c.PadRight(w[i]))) + " |");
    }

    private sealed class SyncProgress : IProgress<RegistrationProgress>
    {
        private readonly Action<RegistrationProgress> _a;
        public SyncProgress(Action<RegistrationProgress> a) => _a = a;
        public void Report(RegistrationProgress value) => _a(value);
    }
}
