using System.Globalization;
using RegPS.Engine.Common;
using RegPS.Engine.Registration;
using SkiaSharp;

namespace RegPS.Rendering;

/// <summary>Options of <see cref="MotionPlot"/>.</summary>
public sealed record MotionPlotOptions
{
    public int Width { get; init; } = 900;
    public int Height { get; init; } = 600;

    /// <summary>The framewise-displacement threshold drawn across the FD panel (mm).</summary>
    public double Threshold { get; init; } = 0.5;

    /// <summary>Repetition time (s): when above 0 the x axis is labelled in seconds, else in volumes.</summary>
    public double RepetitionTime { get; init; }

    /// <summary>A title above the plot (needs the module's font; empty for none).</summary>
    public string Title { get; init; } = "";
}

/// <summary>
/// A motion QC plot drawn with SkiaSharp: three panels over time, top to bottom, translations (mm), rotations (degrees)
/// and framewise displacement (mm) with the threshold as a horizontal line. Colours: x red, y green, z blue, FD black,
/// threshold orange. Axis labels and ticks are drawn when the module's font is installed.
/// </summary>
public static class MotionPlot
{
    public static readonly SKColor XColour = new(214, 39, 40), YColour = new(44, 160, 44), ZColour = new(31, 119, 180);
    public static readonly SKColor FdColour = SKColors.Black, ThresholdColour = new(255, 127, 14);

    public static SKBitmap Render(IReadOnlyList<MotionParameters> parameters, MotionPlotOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        options ??= new MotionPlotOptions();
        if (parameters.Count < 2) throw new ArgumentException("A motion plot needs at least 2 volumes.", nameof(parameters));
        if (options.Width is < 200 or > Raster.MaxSide || options.Height is < 150 or > Raster.MaxSide)
            throw new ArgumentException($"The plot must be 200 to {Raster.MaxSide} pixels wide and 150 to {Raster.MaxSide} high, got {options.Width}x{options.Height}.");
        SkiaNative.EnsureResolver();
        int n = parameters.Count;
        const double deg = 180 / Math.PI;
        var trans = new[] { parameters.Select(p => p.TransX).ToArray(), parameters.Select(p => p.TransY).ToArray(), parameters.Select(p => p.TransZ).ToArray() };
        var rots = new[] { parameters.Select(p => p.RotX * deg).ToArray(), parameters.Select(p => p.RotY * deg).ToArray(), parameters.Select(p => p.RotZ * deg).ToArray() };
        var fd = parameters.Select(p => p.FramewiseDisplacement).ToArray();

        var bitmap = new SKBitmap(new SKImageInfo(options.Width, options.Height, SKColorType.Rgba8888, SKAlphaType.Premul));
        using var canvas = new SKCanvas(bitmap);
        canvas.Clear(SKColors.White);
        var face = Fonts.Title;
        using var font = face is null ? null : new SKFont(face, 11);
        using var textPaint = new SKPaint { Color = new SKColor(60, 60, 60), IsAntialias = true };

        float left = face is null ? 10 : 62, right = 10, top = string.IsNullOrEmpty(options.Title) || face is null ? 10 : 26, bottom = face is null ? 10 : 28, gap = 16;
        float panelHeight = (options.Height - top - bottom - 2 * gap) / 3f;
        float width = options.Width - left - right;
        if (font is not null && !string.IsNullOrEmpty(options.Title))
            canvas.DrawText(options.Title, left, 16, SKTextAlign.Left, font, textPaint);

        var panels = new (double[][] Series, SKColor[] Colours, string Label, bool FromZero)[]
        {
            (trans, new[] { XColour, YColour, ZColour }, "trans mm", false),
            (rots, new[] { XColour, YColour, ZColour }, "rot deg", false),
            (new[] { fd }, new[] { FdColour }, "FD mm", true),
        };
        for (int k = 0; k < 3; k++)
        {
            var rect = new SKRect(left, top + k * (panelHeight + gap), left + width, top + k * (panelHeight + gap) + panelHeight);
            var (series, colours, label, fromZero) = panels[k];
            var finite = series.SelectMany(s => s).Where(double.IsFinite).ToList();
            double lo = fromZero ? 0 : Math.Min(0, finite.DefaultIfEmpty(0).Min());
            double hi = Math.Max(0, finite.DefaultIfEmpty(0).Max());
            if (k == 2) hi = Math.Max(hi, options.Threshold);
            double pad = Math.Max(1e-3, (hi - lo) * 0.08);
            if (!fromZero) lo -= pad;
            hi += pad;
            float X(int t) => rect.Left + (float)(t * (double)rect.Width / (n - 1));
            float Y(double v) => rect.Bottom - (float)((v - lo) / (hi - lo) * rect.Height);

            using (var frame = new SKPaint { Color = new SKColor(180, 180, 180), Style = SKPaintStyle.Stroke, StrokeWidth = 1 })
                canvas.DrawRect(rect, frame);
            if (!fromZero)
                using (var zero = new SKPaint { Color = new SKColor(210, 210, 210), StrokeWidth = 1 })
                    canvas.DrawLine(rect.Left, Y(0), rect.Right, Y(0), zero);
            if (k == 2)
                using (var th = new SKPaint { Color = ThresholdColour, StrokeWidth = 2, IsAntialias = false })
                    canvas.DrawLine(rect.Left + 1, Y(options.Threshold), rect.Right - 1, Y(options.Threshold), th);
            canvas.Save();
            canvas.ClipRect(rect);
            for (int s = 0; s < series.Length; s++)
            {
                using var paint = new SKPaint { Color = colours[s], StrokeWidth = 2, Style = SKPaintStyle.Stroke, IsAntialias = true };
                using var path = new SKPath();
                bool open = false;
                for (int t = 0; t < n; t++)
                {
                    double v = series[s][t];
                    if (!double.IsFinite(v)) { open = false; continue; }
                    if (!open) { path.MoveTo(X(t), Y(v)); open = true; }
                    else path.LineTo(X(t), Y(v));
                }
                canvas.DrawPath(path, paint);
            }
            canvas.Restore();
            if (font is not null)
            {
                canvas.DrawText(label, 4, rect.Top + rect.Height / 2 + 4, SKTextAlign.Left, font, textPaint);
                canvas.DrawText(Tick(hi), left - 4, rect.Top + 10, SKTextAlign.Right, font, textPaint);
                canvas.DrawText(Tick(lo), left - 4, rect.Bottom, SKTextAlign.Right, font, textPaint);
                if (k == 2)
                {
                    using var thText = new SKPaint { Color = ThresholdColour, IsAntialias = true };
                    canvas.DrawText(Tick(options.Threshold), rect.Right - 4, Y(options.Threshold) - 4, SKTextAlign.Right, font, thText);
                }
            }
        }
        if (font is not null)
        {
            float y = options.Height - 8;
            bool seconds = options.RepetitionTime > 0;
            double end = seconds ? (n - 1) * options.RepetitionTime : n - 1;
            canvas.DrawText("0", left, y, SKTextAlign.Left, font, textPaint);
            canvas.DrawText(Tick(end) + (seconds ? " s" : ""), left + width, y, SKTextAlign.Right, font, textPaint);
            canvas.DrawText(seconds ? "time (s)   x red  y green  z blue" : "volume   x red  y green  z blue", left + width / 2, y, SKTextAlign.Center, font, textPaint);
        }
        return bitmap;
    }

    /// <summary>Renders the plot and writes it as a PNG (atomically).</summary>
    public static void WritePng(IReadOnlyList<MotionParameters> parameters, string path, MotionPlotOptions? options = null, bool overwrite = false, CancellationToken ct = default)
    {
        using var bitmap = Render(parameters, options);
        AtomicFile.Write(path, overwrite, s => Raster.EncodePng(bitmap, s), ct);
    }

    private static string Tick(double v) => v.ToString(Math.Abs(v) >= 10 ? "0.#" : "0.##", CultureInfo.InvariantCulture);
}
