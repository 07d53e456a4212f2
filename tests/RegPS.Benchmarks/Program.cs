using System.Reflection;
using BenchmarkDotNet.Running;

namespace RegPS.Benchmarks;

/// <summary>
/// A side-by-side comparison (RegPS against DIPY/nibabel on the same inputs in one run).
/// Each implementation lives in its own file; Program finds them by reflection.
/// </summary>
public interface IComparison
{
    /// <summary>The command name, e.g. "nifti-load", "affine", "syn".</summary>
    string Name { get; }
    string Description { get; }
    /// <summary>Runs the comparison and prints a table; returns a process exit code.</summary>
    int Run(string[] args);
}

/// <summary>
/// Entry point: `dotnet run -c Release -- compare NAME [args]` runs a side-by-side comparison,
/// `dotnet run -c Release -- list` lists them, anything else goes to BenchmarkDotNet (e.g. --filter '*').
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        var comparisons = typeof(Program).Assembly.GetTypes()
            .Where(t => typeof(IComparison).IsAssignableFrom(t) && t is { IsAbstract: false, IsInterface: false })
            .Select(t => (IComparison)Activator.CreateInstance(t)!)
            .OrderBy(c => c.Name)
            .ToList();
        if (args.Length > 0 && args[0] == "list")
        {
            foreach (var c in comparisons) Console.WriteLine($"{c.Name,-16} {c.Description}");
            return 0;
        }
        if (args.Length > 1 && args[0] == "compare")
        {
            var c = comparisons.FirstOrDefault(x => x.Name == args[1]);
            if (c is null)
            {
                Console.Error.WriteLine($"No comparison named '{args[1]}'. Known: {string.Join(", ", comparisons.Select(x => x.Name))}");
                return 2;
            }
            return c.Run(args.Skip(2).ToArray());
        }
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
        return 0;
    }
}
