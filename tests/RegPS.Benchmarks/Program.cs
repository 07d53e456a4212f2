using BenchmarkDotNet.Running;

namespace RegPS.Benchmarks;

/// <summary>
/// Entry point of the benchmarks: BenchmarkDotNet micro-benchmarks (dotnet run -c Release -- --filter '*'),
/// and the side-by-side comparisons against DIPY/nibabel that build.ps1 Bench runs.
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
        return 0;
    }
}
