using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using RegPS.Engine.Images;
using RegPS.Engine.IO;
using RegPS.Engine.Registration;

using static RegPS.Benchmarks.BenchSupport;

namespace RegPS.Benchmarks;

/// <summary>
/// RegPS's motion correction (Register-ImageSeries' engine) side by side with DIPY 1.6's register_series on the same
/// file: a 64x64x36 series of 200 volumes at 3 mm made from a real T1 with a known rigid motion per volume
/// (tests/bench/series_cases.py prepare: drifts and spikes up to 2 mm / 2 degrees, a signal drift and noise).
/// <para>Each tool runs as its own process on bold.nii under GNU time (wall, CPU = user + system, peak resident set);
/// the rounds alternate the order (RegPS, DIPY; then DIPY, RegPS; ...). DIPY takes many minutes per run, so it runs in
/// the first <c>--dipy-rounds</c> rounds only (default 1), and with --reuse-dipy its cached result (dipy.json in the
/// data folder, from an earlier run of this comparison) is used instead. RegPS runs with its defaults (rigid, two
/// passes, least squares) unless --set/--metric say otherwise; DIPY with register_series' translation then rigid
/// pipeline and its default MI levels, single-threaded, registering every volume to the middle one.</para>
/// <para>Errors against the truth (A_t, reference world -> volume t world): the mean over volumes of the absolute
/// parameter errors (translations mm, rotations degrees, R = Rx Ry Rz about the grid's centre, decomposed here), the
/// mean over the brain mask and volumes of |A x - T x| (mm), and the mean |FD - FD_true| (Power, 50 mm).</para>
/// <para>DIPY needs seconds per volume (about 6 s of CPU at this size), so by default it registers 16 of the volumes
/// (--dipy-volumes; spread evenly over the run, the middle one its reference) and its time per volume is compared with
/// RegPS's over the whole run; errors are shown for RegPS over all volumes and over DIPY's volumes.</para>
/// Usage: compare series [--data DIR] [--volumes N] [--rounds N] [--dipy-rounds N] [--dipy-volumes N] [--threads N] [--no-dipy]
///        [--reuse-dipy] [--metric LeastSquares|MutualInformation] [--passes N] [--set Option=Value ...]
///        compare series --one DIR [--threads N] [--metric M] [--passes N] [--set ...]   (one RegPS run, JSON)
/// </summary>
public sealed class SeriesComparison : IComparison
{
    public string Name => "series";
    public string Description => "Motion correction (200 x 64x64x36 at 3 mm, known motion) vs DIPY 1.6 register_series: time, CPU, memory, error";

    private const string Python = "/usr/bin/python3";

    public int Run(string[] args)
    {
        string threads = Option(args, "--threads") ?? "2";
        var sets = Options(args, "--set");
        string? metric = Option(args, "--metric");
        string? passes = Option(args, "--passes");
        if (Option(args, "--one") is { } one) return RunOne(one, int.Parse(threads, CultureInfo.InvariantCulture), metric, passes, sets);

        string volumes = Option(args, "--volumes") ?? "200";
        string data = Option(args, "--data") ?? Path.Combine(Path.GetTempPath(), $"regps-series-bench-{volumes}");
        int rounds = int.Parse(Option(args, "--rounds") ?? "3", CultureInfo.InvariantCulture);
        int dipyRounds = int.Parse(Option(args, "--dipy-rounds") ?? "1", CultureInfo.InvariantCulture);
        string dipyVolumes = Option(args, "--dipy-volumes") ?? "16";
        bool runDipy = !args.Contains("--no-dipy"), reuseDipy = args.Contains("--reuse-dipy");
        string script = FindFile("tests/bench/series_cases.py");
        if (!File.Exists(Path.Combine(data, "truth.json")) || !File.Exists(Path.Combine(data, "bold.nii")))
        {
            Console.WriteLine($"Preparing the series in {data} ...");
            if (Exec(Python, new[] { script, "prepare", data, volumes }, out var o, out _) != 0) return 1;
            Console.Write(o);
        }
        var truthJson = JsonDocument.Parse(File.ReadAllText(Path.Combine(data, "truth.json"))).RootElement;
        var truth = truthJson.GetProperty("affines").EnumerateArray().Select(MatrixFrom).ToArray();
        var centre = truthJson.GetProperty("centre").EnumerateArray().Select(v => v.GetDouble()).ToArray();
        var mask = NiftiReader.Read(Path.Combine(data, "mask.nii"));

        var self = Environment.ProcessPath!;
        var selfArgs = new List<string>();
        if (Path.GetFileNameWithoutExtension(self) == "dotnet") selfArgs.Add(typeof(SeriesComparison).Assembly.Location);
        var regps = new List<Measured>();
        var dipy = new List<Measured>();
        string dipyCache = Path.Combine(data, "dipy.json");
        if (runDipy && reuseDipy && File.Exists(dipyCache))
        {
            dipy.Add(JsonSerializer.Deserialize<Measured>(File.ReadAllText(dipyCache))!);
            dipyRounds = 0;
        }
        for (int r = 0; r < rounds; r++)
        {
            void RunRegPS()
            {
                var a = new List<string>(selfArgs) { "compare", "series", "--one", data, "--threads", threads };
                if (metric is not null) { a.Add("--metric"); a.Add(metric); }
                if (passes is not null) { a.Add("--passes"); a.Add(passes); }
                foreach (var s in sets) { a.Add("--set"); a.Add(s); }
                var m = Measure(self, a);
                var json = JsonDocument.Parse(m.Stdout.Trim().Split('\n').Last()).RootElement;
                m.Affines = json.GetProperty("affines").EnumerateArray().Select(MatrixFrom).ToArray();
                m.Inner = json.GetProperty("seconds").GetDouble();
                m.Stdout = "";
                regps.Add(m);
            }
            void RunDipy()
            {
                Console.Error.WriteLine($"round {r + 1}: DIPY (slow) ...");
                var m = Measure(Python, new[] { script, "dipy", data, dipyVolumes });
                var json = JsonDocument.Parse(m.Stdout.Trim().Split('\n').Last()).RootElement;
                m.Volumes = json.GetProperty("volumes").EnumerateArray().Select(v => v.GetInt32()).ToArray();
                m.Affines = json.GetProperty("affines").EnumerateArray().Select(MatrixFrom).ToArray();
                m.Inner = json.GetProperty("seconds").GetDouble();
                m.Stdout = "";
                dipy.Add(m);
                File.WriteAllText(dipyCache, JsonSerializer.Serialize(m));
            }
            Console.Error.WriteLine($"round {r + 1}/{rounds}");
            bool withDipy = runDipy && r < dipyRounds;
            if (r % 2 == 0) { RunRegPS(); if (withDipy) RunDipy(); }
            else { if (withDipy) RunDipy(); RunRegPS(); }
        }
        for (int r = 1; r < regps.Count; r++)
            if (!regps[r].Affines!.SequenceEqual(regps[0].Affines!)) throw new InvalidOperationException("RegPS gave different matrices in different runs");

        int n = truth.Length;
        var rows = new List<string[]>();
        void Row(string tool, List<Measured> ms, int[]? only = null)
        {
            if (ms.Count == 0) return;
            var vols = ms[0].Volumes ?? Enumerable.Range(0, n).ToArray();
            var found = ms[0].Affines!;
            if (only is not null) { found = only.Select(v => found[v]).ToArray(); vols = only; }
            var e = Errors(found, vols.Select(v => truth[v]).ToArray(), centre, mask);
            int count = ms[0].Affines!.Length;
            rows.Add(new[]
            {
                tool, ms.Count.ToString(CultureInfo.InvariantCulture), vols.Length.ToString(CultureInfo.InvariantCulture),
                $"{Median(ms.Select(m => m.Wall)):0.00} ({Median(ms.Select(m => m.Inner)):0.00})",
                $"{Median(ms.Select(m => m.Wall)) / count:0.0000}",
                $"{Median(ms.Select(m => m.Cpu)):0.0}",
                $"{Median(ms.Select(m => m.PeakMb)):0}",
                $"{e.Trans:0.0000} / {e.Rot:0.0000}",
                $"{e.MaxTrans:0.000} / {e.MaxRot:0.000}",
                $"{e.Displacement:0.0000} ({e.MaxDisplacement:0.000})",
                $"{e.Fd:0.0000}",
            });
        }
        Row("RegPS", regps);
        if (dipy.Count > 0 && dipy[0].Volumes!.Length < n) Row("RegPS, DIPY's volumes", regps, dipy[0].Volumes);
        Row("DIPY 1.6", dipy);
        Console.WriteLine();
        PrintTable(new[] { "tool", "runs", "volumes scored", "wall s (registration)", "wall s per volume", "CPU s", "peak MB", "mean param error mm / deg",
            "max param error mm / deg", "mean displacement error mm (max volume)", "mean FD error mm" }, rows);
        if (regps.Count > 0 && dipy.Count > 0)
        {
            // Per volume: DIPY ran on a subset (its time per volume is the run's over its volume count).
            int dn = dipy[0].Volumes!.Length;
            double dw = Median(dipy.Select(m => m.Wall)) / dn, dc = Median(dipy.Select(m => m.Cpu)) / dn;
            var ratios = regps.Select(m => dw / (m.Wall / n)).ToList();
            Console.WriteLine($"Per volume, DIPY/RegPS wall time: {Median(ratios):0}x (range {ratios.Min():0}-{ratios.Max():0}x over RegPS's runs); CPU time: {dc / (Median(regps.Select(m => m.Cpu)) / n):0}x. " +
                $"DIPY registered {dn} of the {n} volumes (spread evenly, the middle one its reference); RegPS all {n}, two passes.");
        }
        Console.WriteLine($"{n} volumes of {string.Join("x", mask.Grid.Shape)} at {mask.Grid.Spacing[0]:0.#} mm; RegPS {threads} threads" +
            $"{(metric is null ? "" : ", metric " + metric)}{(passes is null ? "" : ", passes " + passes)}{(sets.Count > 0 ? ", " + string.Join(", ", sets) : "")}; DIPY single-threaded. " +
            "Times: process wall time (reading the file included), medians over runs; registration alone in brackets. " +
            $"Load average at the end: {File.ReadAllText("/proc/loadavg").Split(' ')[0]}.");
        return 0;
    }

    private sealed class Measured
    {
        public double Wall { get; set; }
        public double Cpu { get; set; }
        public double PeakMb { get; set; }
        public double Inner { get; set; }
        public string Stdout { get; set; } = "";
        public int[]? Volumes { get; set; }
        public double[][][]? Matrices { get => Affines?.Select(a => a.ToRows()).ToArray(); set => Affines = value?.Select(Matrix4.FromRows).ToArray(); }
        [System.Text.Json.Serialization.JsonIgnore] public Matrix4[]? Affines { get; set; }
    }

    internal sealed record SeriesErrors(double Trans, double Rot, double MaxTrans, double MaxRot, double Displacement, double MaxDisplacement, double Fd);

    /// <summary>Parameter, displacement and FD errors of <paramref name="found"/> against <paramref name="truth"/> (see the class remarks).</summary>
    internal static SeriesErrors Errors(Matrix4[] found, Matrix4[] truth, double[] c, Image mask)
    {
        int n = truth.Length;
        double trans = 0, rot = 0, maxT = 0, maxR = 0, disp = 0, maxD = 0, fd = 0;
        double[]? prevF = null, prevT = null;
        for (int t = 0; t < n; t++)
        {
            var pf = Params(found[t], c);
            var pt = Params(truth[t], c);
            for (int k = 0; k < 3; k++)
            {
                double e = Math.Abs(pf[k] - pt[k]);
                trans += e / (3 * n);
                maxT = Math.Max(maxT, e);
                double er = Math.Abs(pf[k + 3] - pt[k + 3]) * 180 / Math.PI;
                rot += er / (3 * n);
                maxR = Math.Max(maxR, er);
            }
            double d = AffineComparison.MeanError(mask, found[t], truth[t]);
            disp += d / n;
            maxD = Math.Max(maxD, d);
            if (prevF is not null) fd += Math.Abs(Fd(pf, prevF) - Fd(pt, prevT!)) / (n - 1);
            prevF = pf;
            prevT = pt;
        }
        return new SeriesErrors(trans, rot, maxT, maxR, disp, maxD, fd);

        static double Fd(double[] a, double[] b) =>
            Math.Abs(a[0] - b[0]) + Math.Abs(a[1] - b[1]) + Math.Abs(a[2] - b[2]) + 50 * (Math.Abs(a[3] - b[3]) + Math.Abs(a[4] - b[4]) + Math.Abs(a[5] - b[5]));
    }

    /// <summary>tx ty tz (mm, the centre's displacement) and rx ry rz (radians) of A x = Rx Ry Rz (x - c) + c + t.</summary>
    private static double[] Params(Matrix4 a, double[] c)
    {
        var (x, y, z) = a.Apply(c[0], c[1], c[2]);
        // Rx Ry Rz: row 0 = (cy cz, -cy sz, sy); column 2 = (sy, -sx cy, cx cy).
        return new[] { x - c[0], y - c[1], z - c[2], Math.Atan2(-a[1, 2], a[2, 2]), Math.Asin(Math.Clamp(a[0, 2], -1, 1)), Math.Atan2(-a[0, 1], a[0, 0]) };
    }

    /// <summary>One RegPS run: read the series, correct it with the given options, print the matrices and times as JSON.</summary>
    private static int RunOne(string dir, int threads, string? metric, string? passes, List<string> sets)
    {
        var sw = Stopwatch.StartNew();
        var series = NiftiReader.Read(Path.Combine(dir, "bold.nii"));
        var read = sw.Elapsed.TotalSeconds;
        var options = new MotionCorrectionOptions { MaxDegreeOfParallelism = threads };
        if (metric is not null) options = options with { Metric = Enum.Parse<SeriesMetric>(metric, true) };
        if (passes is not null) options = options with { Passes = int.Parse(passes, CultureInfo.InvariantCulture) };
        options = WithSets(options, sets, o => o with { });
        sw.Restart();
        var result = MotionCorrection.Register(series, options);
        double seconds = sw.Elapsed.TotalSeconds;
        if (Environment.GetEnvironmentVariable("REGPS_BENCH_VERBOSE") == "1")
        {
            var truthJson = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "truth.json"))).RootElement;
            var truth = truthJson.GetProperty("affines").EnumerateArray().Select(MatrixFrom).ToArray();
            var c = truthJson.GetProperty("centre").EnumerateArray().Select(v => v.GetDouble()).ToArray();
            var e = Errors(result.Affines.ToArray(), truth, c, NiftiReader.Read(Path.Combine(dir, "mask.nii")));
            Console.Error.WriteLine($"read {read:0.00} s, register {seconds:0.00} s (passes {string.Join(", ", result.PassTimes.Select(p => p.TotalSeconds.ToString("0.00", CultureInfo.InvariantCulture)))}); iterations mean {result.Iterations.Average():0.0} max {result.Iterations.Max()}; {e}");
        }
        Console.WriteLine(JsonSerializer.Serialize(new { affines = result.Affines.Select(a => a.ToRows()).ToArray(), seconds, read }));
        return 0;
    }

    private static Measured Measure(string file, IEnumerable<string> args)
    {
        var t = RunTimed(file, args);
        if (t.Stderr.Length > 0 && Environment.GetEnvironmentVariable("REGPS_BENCH_VERBOSE") == "1") Console.Error.Write(t.Stderr);
        return new Measured { Wall = t.Wall, Cpu = t.Cpu, PeakMb = t.PeakMb, Stdout = t.Stdout };
    }

}
