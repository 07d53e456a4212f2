using System.Diagnostics;

namespace RegPS.Engine.Tests.TestSupport;

/// <summary>Runs only where elastix's transformix is installed, or always under CI (which installs it).</summary>
public sealed class TransformixFactAttribute : FactAttribute
{
    public TransformixFactAttribute()
    {
        if (!File.Exists(Transformix.Executable) && !Python.IsCI)
            Skip = $"skipped because {Transformix.Executable} (Debian package elastix) is not installed";
    }
}

/// <summary>elastix's transformix, an independent ITK-based resampler.</summary>
public static class Transformix
{
    public const string Executable = "/usr/bin/transformix";

    /// <summary>Runs transformix with <paramref name="args"/>; fails the test when it fails or takes over two minutes.</summary>
    public static void Run(params string[] args)
    {
        var psi = new ProcessStartInfo(Executable) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        var output = p.StandardOutput.ReadToEnd();
        Assert.True(p.WaitForExit(120_000), "transformix timed out");
        Assert.True(p.ExitCode == 0, $"transformix {string.Join(' ', args)} failed: {output} {err.Result}");
    }
}
