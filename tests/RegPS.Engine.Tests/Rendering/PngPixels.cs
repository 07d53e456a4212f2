using SkiaSharp;

namespace RegPS.Engine.Tests.Rendering;

/// <summary>A decoded picture for assertions: RGB of each pixel, decoded by SkiaSharp's PNG codec from the bytes on disk.</summary>
internal sealed class PngPixels
{
    private readonly byte[] _rgba;
    public int Width { get; }
    public int Height { get; }

    private PngPixels(byte[] rgba, int w, int h) { _rgba = rgba; Width = w; Height = h; }

    public static unsafe PngPixels Load(string path)
    {
        RegPS.Rendering.SkiaNative.EnsureResolver();
        using var codec = SKCodec.Create(path) ?? throw new InvalidOperationException($"{path} does not decode");
        var info = new SKImageInfo(codec.Info.Width, codec.Info.Height, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        var bytes = new byte[info.Width * info.Height * 4];
        fixed (byte* p = bytes) Assert.Equal(SKCodecResult.Success, codec.GetPixels(info, (IntPtr)p));
        return new PngPixels(bytes, info.Width, info.Height);
    }

    public static unsafe PngPixels FromBitmap(SKBitmap bitmap)
    {
        var info = new SKImageInfo(bitmap.Width, bitmap.Height, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        var bytes = new byte[info.Width * info.Height * 4];
        using var pixmap = bitmap.PeekPixels();
        fixed (byte* p = bytes) Assert.True(pixmap.ReadPixels(info, (IntPtr)p, info.Width * 4, 0, 0));
        return new PngPixels(bytes, info.Width, info.Height);
    }

    public (byte R, byte G, byte B) this[int x, int y]
    {
        get
        {
            int i = 4 * (y * Width + x);
            return (_rgba[i], _rgba[i + 1], _rgba[i + 2]);
        }
    }
}
