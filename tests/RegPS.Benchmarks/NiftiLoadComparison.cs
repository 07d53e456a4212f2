using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using RegPS.Engine.IO;

namespace RegPS.Benchmarks;

/// <summary>
/// "nifti-load": RegPS NiftiReader.Read against nibabel's load().get_fdata() on the same 193x229x193 int16 .nii.gz,
/// in one run. Options: --repeats N (default 15), --file PATH (use an existing file instead of making one).
/// </summary>
public sealed class NiftiLoadComparison : IComparison
{
    public string Name => "nifti-load";
    public string Description => "NIfTI load time: RegPS NiftiReader.Read vs nibabel get_fdata() (193x229x193 int16 .nii.gz)";

    public int Run(string[] args)
    {
        int repeats = NiftiBench.IntOption(args, "--repeats", 15);
        string? file = NiftiBench.Option(args, "--file");
        if (!NiftiBench.PythonHas("nibabel") || !NiftiBench.PythonHas("scipy"))
        {
            Console.Error.WriteLine($"nifti-load needs {NiftiBench.PythonExe} with nibabel and scipy.");
            return 3;
        }
        string dir = Path.Combine(Path.GetTempPath(), $"regps-nifti-load-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        try
        {
            if (file is null)
            {
                file = Path.Combine(dir, "brain193.nii.gz");
                var made = JsonDocument.Parse(NiftiBench.RunPython("nifti_load_bench.py", "make", file)).RootElement;
                Console.WriteLine($"Input: {made.GetProperty("source").GetString()}, 193x229x193 int16, {made.GetProperty("bytes").GetInt64() / 1e6:0.0} MB gzip (nibabel level 1)");
            }
            else Console.WriteLine($"Input: {file}");

            var regps = NiftiBench.Time(() => NiftiReader.Read(file), repeats, warmups: 5);
            var nib = JsonDocument.Parse(NiftiBench.RunPython("nifti_load_bench.py", "time", file, repeats.ToString(CultureInfo.InvariantCulture))).RootElement;
            double nibMedian = nib.GetProperty("median").GetDouble();
            Console.WriteLine($"Machine: {Environment.ProcessorCount} cores, .NET {Environment.Version}; median of {repeats} after warm-up");
            Console.WriteLine($"{"implementation",-34} {"median ms",10}");
            Console.WriteLine($"{"RegPS NiftiReader.Read (float32)",-34} {regps * 1000,10:0.0}");
            Console.WriteLine($"{"nibabel load().get_fdata() (f64)",-34} {nibMedian * 1000,10:0.0}");
            Console.WriteLine($"ratio nibabel / RegPS: {nibMedian / regps:0.00}x ({(regps <= nibMedian ? "RegPS faster" : "RegPS slower")})");
            return 0;
        }
        finally
        {
            try { Directory.Delete(dir, true); } catch (IOException) { }
        }
    }
}

/// <summary>Shared pieces of the NIfTI benchmarks: timing, options, and running the tests/interop Python scripts.</summary>
internal static class NiftiBench
{
    public const string PythonExe = "/usr/bin/python3";

    public static string? Option(string[] args, string name)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }

    public static int IntOption(string[] args, string name, int fallback) =>
        int.TryParse(Option(args, name), NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) && v > 0 ? v : fallback;

    /// <summary>Median seconds of <paramref name="repeats"/> runs after <paramref name="warmups"/> untimed ones.</summary>
    public static double Time(Action action, int repeats, int warmups = 1)
    {
        for (int i = 0; i < warmups; i++) action();
        var times = new double[repeats];
        for (int i = 0; i < repeats; i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
            var sw = Stopwatch.StartNew();
            action();
            times[i] = sw.Elapsed.TotalSeconds;
        }
        Array.Sort(times);
        return repeats % 2 == 1 ? times[repeats / 2] : (times[repeats / 2 - 1] + times[repeats / 2]) / 2;
    }

    public static string InteropDirectory
    {
        get
        {
            for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            {
                var candidate = Path.Combine(d.FullName, "tests", "interop");
                if (Directory.Exists(candidate)) return candidate;
            }
            throw new DirectoryNotFoundException("tests/interop not found above " + AppContext.BaseDirectory);
        }
    }

    public static bool PythonHas(string module)
    {
        if (!File.Exists(PythonExe)) return false;
        var (code, _, _) = Run(new[] { "-c", "import " + module });
        return code == 0;
    }

    public static string RunPython(string script, params string[] args)
    {
        var (code, stdout, stderr) = Run(new[] { Path.Combine(InteropDirectory, script) }.Concat(args));
        if (code != 0) throw new InvalidOperationException($"{script} {string.Join(" ", args)} failed ({code}):\n{stderr}");
        return stdout;
    }

    private static (int, string, string) Run(IEnumerable<string> args)
    {
        var psi = new ProcessStartInfo(PythonExe) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var o = p.StandardOutput.ReadToEndAsync();
        var e = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(TimeSpan.FromMinutes(10)))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException("python did not finish in 10 minutes");
        }
        p.WaitForExit();
        return (p.ExitCode, o.Result, e.Result);
    }
}
