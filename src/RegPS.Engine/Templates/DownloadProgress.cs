namespace RegPS.Engine.Templates;

/// <summary>How far a download is: bytes received, the total when the server announced it, and the mean rate so far.</summary>
public readonly record struct DownloadProgress(long BytesReceived, long? TotalBytes, double BytesPerSecond)
{
    /// <summary>Percent done (0-100), or null when the server did not announce the size.</summary>
    public double? Percent => TotalBytes is > 0 ? 100.0 * BytesReceived / TotalBytes.Value : null;
}
