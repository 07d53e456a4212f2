using SkiaSharp;

using RegPS.Engine.Common;

namespace RegPS.Rendering;

/// <summary>Small helpers shared by the renderers: bitmaps from byte buffers, PNG encoding, default scale.</summary>
internal static class Raster
{
    /// <summary>Largest picture side we agree to render, in pixels (keeps a mistaken Scale from allocating gigabytes).</summary>
    public const int MaxSide = 16384;

    /// <summary>The smallest integer upscaling that makes <paramref name="width"/> at least <paramref name="target"/> pixels (1 if already wide).</summary>
    public static int DefaultScale(int width, int target = 256) => Math.Max(1, (target + width - 1) / width);

    public static int CheckScale(int? scale, int width, int height)
    {
        int s = scale ?? DefaultScale(width);
        if (s < 1) throw new ArgumentOutOfRangeException(nameof(scale), $"Scale must be 1 or more, got {s}.");
        if ((long)width * s > MaxSide || (long)height * s > MaxSide)
            throw new ArgumentOutOfRangeException(nameof(scale), $"A scale of {s} makes a {(long)width * s}x{(long)height * s} picture; the limit is {MaxSide} pixels a side.");
        return s;
    }

    /// <summary>An opaque RGBA bitmap from an interleaved RGB buffer (3 bytes a pixel, rows top to bottom).</summary>
    public static unsafe SKBitmap FromRgb(byte[] rgb, int width, int height)
    {
        var bitmap = new SKBitmap(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Opaque));
        byte* basePtr = (byte*)bitmap.GetPixels();
        int rowBytes = bitmap.RowBytes;
        for (int y = 0; y < height; y++)
        {
            byte* row = basePtr + (long)y * rowBytes;
            int src = y * width * 3;
            for (int x = 0; x < width; x++, src += 3)
            {
                row[4 * x] = rgb[src];
                row[4 * x + 1] = rgb[src + 1];
                row[4 * x + 2] = rgb[src + 2];
                row[4 * x + 3] = 255;
            }
        }
        bitmap.NotifyPixelsChanged();
        return bitmap;
    }

    /// <summary>An 8-bit greyscale bitmap from a buffer of width*height bytes (rows top to bottom).</summary>
    public static unsafe SKBitmap FromGrey(byte[] grey, int width, int height)
    {
        var bitmap = new SKBitmap(new SKImageInfo(width, height, SKColorType.Gray8, SKAlphaType.Opaque));
        byte* basePtr = (byte*)bitmap.GetPixels();
        int rowBytes = bitmap.RowBytes;
        for (int y = 0; y < height; y++)
            new ReadOnlySpan<byte>(grey, y * width, width).CopyTo(new Span<byte>(basePtr + (long)y * rowBytes, width));
        bitmap.NotifyPixelsChanged();
        return bitmap;
    }

    /// <summary>Nearest-neighbour integer upscaling of an interleaved RGB buffer: each pixel becomes an s-by-s block.</summary>
    public static byte[] Upscale(byte[] rgb, int width, int height, int s)
    {
        if (s == 1) return rgb;
        int w2 = width * s;
        var result = new byte[w2 * height * s * 3];
        for (int y = 0; y < height; y++)
        {
            int dstRow0 = y * s * w2 * 3;
            for (int x = 0; x < width; x++)
            {
                int src = (y * width + x) * 3;
                for (int k = 0; k < s; k++)
                {
                    int d = dstRow0 + (x * s + k) * 3;
                    result[d] = rgb[src]; result[d + 1] = rgb[src + 1]; result[d + 2] = rgb[src + 2];
                }
            }
            for (int k = 1; k < s; k++)
                Array.Copy(result, dstRow0, result, dstRow0 + k * w2 * 3, w2 * 3);
        }
        return result;
    }

    /// <summary>Encodes a bitmap as PNG into a stream (deterministic: same pixels, same bytes).</summary>
    public static void EncodePng(SKBitmap bitmap, Stream stream)
    {
        using var data = bitmap.Encode(SKEncodedImageFormat.Png, 100)
            ?? throw new InvalidOperationException("SkiaSharp could not encode the picture as PNG.");
        data.SaveTo(stream);
    }

    /// <summary>Writes a bitmap as a PNG file atomically.</summary>
    public static void WritePng(SKBitmap bitmap, string path, bool overwrite) =>
        AtomicFile.Write(path, overwrite, s => EncodePng(bitmap, s));

    /// <summary>Largest finite value of a span (0 when there is none).</summary>
    public static float FiniteMax(ReadOnlySpan<float> values)
    {
        float max = float.NegativeInfinity;
        foreach (var v in values) if (float.IsFinite(v) && v > max) max = v;
        return float.IsNegativeInfinity(max) ? 0 : max;
    }

    /// <summary>
    /// Display value normalised to the maximum: v * full / max (full = 255 by default), negatives and NaN to 0,
    /// rounded half away from zero. Computed as (v * full) / max so that v = max / 2 gives exactly 127.5 -> 128.
    /// </summary>
    public static byte ToByte(float v, double max, double full = 255)
    {
        if (!(v > 0) || !(max > 0)) return 0;
        double d = v * full / max;
        return d >= 255 ? (byte)255 : (byte)(d + 0.5);
    }
}
