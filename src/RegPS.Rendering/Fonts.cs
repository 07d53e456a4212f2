using SkiaSharp;

namespace RegPS.Rendering;

/// <summary>
/// The font for titles and the motion plot (registered with ScottPlot by <see cref="MotionPlot"/>). SkiaSharp's
/// NoDependencies build (no fontconfig) finds only the font files under /usr/share/fonts, none on a bare machine, so the
/// module ships DejaVu Sans Mono
/// (module/fonts/DejaVuSansMono.ttf, Bitstream Vera licence) and loads it from &lt;dir of RegPS.Rendering.dll&gt;/fonts/
/// or &lt;dir&gt;/../fonts/. Loaded once; an SKTypeface is immutable and safe to share between threads.
/// </summary>
internal static class Fonts
{
    public const string FileName = "DejaVuSansMono.ttf";

    private static readonly Lazy<SKTypeface?> Typeface = new(Load, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>The title typeface, or null when the font file is not installed next to the assembly.</summary>
    public static SKTypeface? Title => Typeface.Value;

    internal static IEnumerable<string> Candidates(string baseDirectory)
    {
        yield return System.IO.Path.Combine(baseDirectory, "fonts", FileName);
        yield return System.IO.Path.Combine(baseDirectory, "..", "fonts", FileName);
    }

    private static readonly Lazy<string?> FontPath = new(Find, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>The full path of the installed font file, or null when it is not installed next to the assembly.</summary>
    public static string? Path => FontPath.Value;

    private static string? Find()
    {
        string? dir = System.IO.Path.GetDirectoryName(typeof(Fonts).Assembly.Location);
        if (string.IsNullOrEmpty(dir)) return null;
        return Candidates(dir).Where(File.Exists).Select(System.IO.Path.GetFullPath).FirstOrDefault();
    }

    private static SKTypeface? Load()
    {
        SkiaNative.EnsureResolver();
        return Path is { } path ? SKTypeface.FromFile(path) : null;
    }

    /// <summary>The typeface, or an exception that says where the font was expected.</summary>
    public static SKTypeface Require()
    {
        if (Title is { } face) return face;
        string dir = System.IO.Path.GetDirectoryName(typeof(Fonts).Assembly.Location) ?? "";
        throw new InvalidOperationException(
            $"Titles need the font {FileName}, which is not installed next to RegPS.Rendering.dll (looked in {string.Join(" and ", Candidates(dir))}). Leave the titles empty, or reinstall the module.");
    }
}
