using SkiaSharp;

namespace RegPS.Rendering;

/// <summary>
/// The font for titles. SkiaSharp's NoDependencies build has no system fonts, so the module ships DejaVu Sans Mono
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
        yield return Path.Combine(baseDirectory, "fonts", FileName);
        yield return Path.Combine(baseDirectory, "..", "fonts", FileName);
    }

    private static SKTypeface? Load()
    {
        SkiaNative.EnsureResolver();
        string? dir = Path.GetDirectoryName(typeof(Fonts).Assembly.Location);
        if (string.IsNullOrEmpty(dir)) return null;
        foreach (var path in Candidates(dir))
            if (File.Exists(path) && SKTypeface.FromFile(path) is { } face) return face;
        return null;
    }

    /// <summary>The typeface, or an exception that says where the font was expected.</summary>
    public static SKTypeface Require()
    {
        if (Title is { } face) return face;
        string dir = Path.GetDirectoryName(typeof(Fonts).Assembly.Location) ?? "";
        throw new InvalidOperationException(
            $"Titles need the font {FileName}, which is not installed next to RegPS.Rendering.dll (looked in {string.Join(" and ", Candidates(dir))}). Leave the titles empty, or reinstall the module.");
    }
}
