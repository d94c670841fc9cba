// The supervisors' playback of a room's recordings (templates/evaluation/media_playback.html): every recording
// on one clock, and each event of the timeline seeks them all to its moment.
const root = document.querySelector("[data-media-playback]");

if (root) {
  const videos = [...root.querySelectorAll("video[data-start]")];
  const seek = (at) => {
    for (const video of videos) {
      const offset = (at - Date.parse(video.dataset.start)) / 1000;
      if (offset >= 0) {
        video.currentTime = offset;
        video.play().catch(() => {});
      }
    }
  };
  root.querySelectorAll("[data-at]").forEach((button) => {
    button.addEventListener("click", () => seek(Date.parse(button.dataset.at)));
  });
}
