using RegPS.Engine.Images;
using SkiaSharp;

namespace RegPS.Rendering;

/// <summary>
/// Titles above pictures and orientation letters at the edges of anatomical panels, in the bundled DejaVu Sans Mono
/// (<see cref="Fonts"/>), white; letters get a black outline so they read over any image.
/// </summary>
public static class Annotations
{
    /// <summary>Height in pixels of the strip added above a picture that has titles.</summary>
    public const int TitleStripHeight = 20;

    internal const float TitleFontSize = 13;
    internal const float LetterFontSize = 14;

    /// <summary>Pixels between a letter and the panel's edge.</summary>
    internal const int LetterMargin = 3;

    /// <summary>
    /// The letters at the left, right, top and bottom edges of a plane whose across axis is voxel axis
    /// <paramref name="across"/> and vertical axis <paramref name="up"/> of <paramref name="grid"/> (3D), drawn with the
    /// vertical index increasing upwards when <paramref name="upwards"/>: the right edge gets the direction the across axis
    /// increases towards (R for a RAS image's i), the left edge the opposite; likewise top and bottom.
    /// </summary>
    public static (char Left, char Right, char Top, char Bottom) Letters(Grid grid, int across, int up, bool upwards)
    {
        ArgumentNullException.ThrowIfNull(grid);
        var code = OrientationCode.FromMatrix(grid.GridToWorld, 3);
        char a = code[across], u = code[up];
        return upwards ? (Opposite(a), a, u, Opposite(u)) : (Opposite(a), a, Opposite(u), u);
    }

    internal static char Opposite(char c) => c switch
    {
        'R' => 'L', 'L' => 'R', 'A' => 'P', 'P' => 'A', 'S' => 'I', 'I' => 'S', _ => '?',
    };

    /// <summary>Draws the four letters inside <paramref name="panel"/>, each centred on its edge.</summary>
    internal static void DrawLetters(SKCanvas canvas, SKRect panel, (char Left, char Right, char Top, char Bottom) letters)
    {
        var typeface = Fonts.Require();
        using var font = new SKFont(typeface, LetterFontSize);
        using var fill = new SKPaint { Color = SKColors.White, IsAntialias = true };
        using var outline = new SKPaint { Color = SKColors.Black, IsAntialias = true, Style = SKPaintStyle.Stroke, StrokeWidth = 3 };
        float midY = panel.MidY - (font.Metrics.Ascent + font.Metrics.Descent) / 2f;
        void Draw(char c, float x, float y, SKTextAlign align)
        {
            var text = c.ToString();
            canvas.DrawText(text, x, y, align, font, outline);
            canvas.DrawText(text, x, y, align, font, fill);
        }
        Draw(letters.Left, panel.Left + LetterMargin, midY, SKTextAlign.Left);
        Draw(letters.Right, panel.Right - LetterMargin, midY, SKTextAlign.Right);
        Draw(letters.Top, panel.MidX, panel.Top + LetterMargin - font.Metrics.Ascent, SKTextAlign.Center);
        Draw(letters.Bottom, panel.MidX, panel.Bottom - LetterMargin - font.Metrics.Descent, SKTextAlign.Center);
    }

    /// <summary>
    /// A copy of <paramref name="picture"/> with a black strip of <see cref="TitleStripHeight"/> pixels above it holding
    /// each title centred over its span (x0, width) of the picture, clipped to it; a title too long for its span starts at
    /// the span's left edge so its beginning stays readable.
    /// </summary>
    internal static SKBitmap WithTitles(SKBitmap picture, IReadOnlyList<(string? Text, int X0, int Width)> titles)
    {
        var typeface = Fonts.Require();
        int w = picture.Width, h = picture.Height, strip = TitleStripHeight;
        var bitmap = new SKBitmap(new SKImageInfo(w, h + strip, SKColorType.Rgba8888, SKAlphaType.Opaque));
        using var canvas = new SKCanvas(bitmap);
        canvas.Clear(SKColors.Black);
        canvas.DrawBitmap(picture, 0, strip);
        using var font = new SKFont(typeface, TitleFontSize);
        using var paint = new SKPaint { Color = SKColors.White, IsAntialias = true };
        float baseline = (strip - (font.Metrics.Ascent + font.Metrics.Descent)) / 2f;
        foreach (var (text, x0, width) in titles)
        {
            if (string.IsNullOrEmpty(text)) continue;
            canvas.Save();
            canvas.ClipRect(new SKRect(x0, 0, x0 + width, strip));
            if (font.MeasureText(text) <= width - 4)
                canvas.DrawText(text, x0 + width / 2f, baseline, SKTextAlign.Center, font, paint);
            else
                canvas.DrawText(text, x0 + 2, baseline, SKTextAlign.Left, font, paint);
            canvas.Restore();
        }
        canvas.Flush();
        return bitmap;
    }
}
