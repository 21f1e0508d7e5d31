//! A thin CRI v1 client over a unix socket, with the calls the scenario needs
//! in the shape kubelet makes them.

use std::time::Duration;

use hyper_util::rt::TokioIo;
use k8s_cri::v1::image_service_client::ImageServiceClient;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use k8s_cri::v1::*;
use tokio::net::UnixStream;
use tonic::transport::{Channel, Endpoint, Uri};

pub type Result<T> = std::result::Result<T, String>;

/// Both CRI services on one connection to containerd's socket.
pub struct Cri {
    pub rt: RuntimeServiceClient<Channel>,
    pub img: ImageServiceClient<Channel>,
}

fn status_text(call: &str, s: tonic::Status) -> String {
    format!("{call}: {:?}: {}", s.code(), s.message())
}

impl Cri {
    pub async fn connect(socket: &str) -> Result<Self> {
        let path = socket.to_string();
        // The URI is required by tonic but unused: the connector dials the socket.
        let channel =
            Endpoint::try_from("http://[::]:50051")
                .map_err(|e| e.to_string())?
                .timeout(Duration::from_secs(120))
                .connect_with_connector(tower::service_fn(move |_: Uri| {
                    let path = path.clone();
                    async move {
                        Ok::<_, std::io::Error>(TokioIo::new(UnixStream::connect(path).await?))
                    }
                }))
                .await
                .map_err(|e| format!("connect {socket}: {e}"))?;
        Ok(Cri {
            rt: RuntimeServiceClient::new(channel.clone()),
            img: ImageServiceClient::new(channel),
        })
    }

    pub async fn version(&mut self) -> Result<VersionResponse> {
        let r = self
            .rt
            .version(VersionRequest {
                version: "v1".into(),
            })
            .await;
        r.map(|r| r.into_inner())
            .map_err(|s| status_text("Version", s))
    }

    pub async fn status(&mut self) -> Result<StatusResponse> {
        let r = self.rt.status(StatusRequest { verbose: false }).await;
        r.map(|r| r.into_inner())
            .map_err(|s| status_text("Status", s))
    }

    pub async fn image_present(&mut self, image: &str) -> Result<bool> {
        let req = ImageStatusRequest {
            image: Some(image_spec(image)),
            verbose: false,
        };
        let r = self
            .img
            .image_status(req)
            .await
            .map_err(|s| status_text("ImageStatus", s))?;
        Ok(r.into_inner().image.is_some())
    }

    pub async fn run_pod(&mut self, config: &PodSandboxConfig) -> Result<String> {
        let req = RunPodSandboxRequest {
            config: Some(config.clone()),
            runtime_handler: String::new(),
        };
        let r = self
            .rt
            .run_pod_sandbox(req)
            .await
            .map_err(|s| status_text("RunPodSandbox", s))?;
        Ok(r.into_inner().pod_sandbox_id)
    }

    /// The sandbox's status and, from the verbose info, the pid of its
    /// (pause) process.
    pub async fn pod_status(&mut self, id: &str) -> Result<(PodSandboxStatus, Option<u32>)> {
        let req = PodSandboxStatusRequest {
            pod_sandbox_id: id.into(),
            verbose: true,
        };
        let r = self
            .rt
            .pod_sandbox_status(req)
            .await
            .map_err(|s| status_text("PodSandboxStatus", s))?;
        let r = r.into_inner();
        let pid = r.info.get("info").and_then(|i| json_number(i, "pid"));
        r.status
            .map(|s| (s, pid))
            .ok_or_else(|| "PodSandboxStatus: no status".into())
    }

    pub async fn list_pods(&mut self) -> Result<Vec<PodSandbox>> {
        let r = self
            .rt
            .list_pod_sandbox(ListPodSandboxRequest { filter: None })
            .await;
        r.map(|r| r.into_inner().items)
            .map_err(|s| status_text("ListPodSandbox", s))
    }

    pub async fn stop_pod(&mut self, id: &str) -> Result<()> {
        let r = self
            .rt
            .stop_pod_sandbox(StopPodSandboxRequest {
                pod_sandbox_id: id.into(),
            })
            .await;
        r.map(|_| ()).map_err(|s| status_text("StopPodSandbox", s))
    }

    pub async fn remove_pod(&mut self, id: &str) -> Result<()> {
        let r = self
            .rt
            .remove_pod_sandbox(RemovePodSandboxRequest {
                pod_sandbox_id: id.into(),
            })
            .await;
        r.map(|_| ())
            .map_err(|s| status_text("RemovePodSandbox", s))
    }

    pub async fn create(
        &mut self,
        pod: &str,
        pod_config: &PodSandboxConfig,
        config: ContainerConfig,
    ) -> Result<String> {
        let req = CreateContainerRequest {
            pod_sandbox_id: pod.into(),
            config: Some(config),
            sandbox_config: Some(pod_config.clone()),
        };
        let r = self
            .rt
            .create_container(req)
            .await
            .map_err(|s| status_text("CreateContainer", s))?;
        Ok(r.into_inner().container_id)
    }

    pub async fn start(&mut self, id: &str) -> Result<()> {
        let r = self
            .rt
            .start_container(StartContainerRequest {
                container_id: id.into(),
            })
            .await;
        r.map(|_| ()).map_err(|s| status_text("StartContainer", s))
    }

    pub async fn stop(&mut self, id: &str, grace_seconds: i64) -> Result<()> {
        let req = StopContainerRequest {
            container_id: id.into(),
            timeout: grace_seconds,
        };
        self.rt
            .stop_container(req)
            .await
            .map(|_| ())
            .map_err(|s| status_text("StopContainer", s))
    }

    pub async fn remove(&mut self, id: &str) -> Result<()> {
        let r = self
            .rt
            .remove_container(RemoveContainerRequest {
                container_id: id.into(),
            })
            .await;
        r.map(|_| ()).map_err(|s| status_text("RemoveContainer", s))
    }

    pub async fn container_status(&mut self, id: &str) -> Result<ContainerStatus> {
        let req = ContainerStatusRequest {
            container_id: id.into(),
            verbose: false,
        };
        let r = self
            .rt
            .container_status(req)
            .await
            .map_err(|s| status_text("ContainerStatus", s))?;
        r.into_inner()
            .status
            .ok_or_else(|| "ContainerStatus: no status".into())
    }

    pub async fn list_containers(&mut self, pod: &str) -> Result<Vec<Container>> {
        let filter = ContainerFilter {
            pod_sandbox_id: pod.into(),
            ..Default::default()
        };
        let r = self
            .rt
            .list_containers(ListContainersRequest {
                filter: Some(filter),
            })
            .await;
        r.map(|r| r.into_inner().containers)
            .map_err(|s| status_text("ListContainers", s))
    }

    pub async fn update(&mut self, id: &str, res: LinuxContainerResources) -> Result<()> {
        let req = UpdateContainerResourcesRequest {
            container_id: id.into(),
            linux: Some(res),
            ..Default::default()
        };
        let r = self.rt.update_container_resources(req).await;
        r.map(|_| ())
            .map_err(|s| status_text("UpdateContainerResources", s))
    }

    pub async fn stats(&mut self, id: &str) -> Result<ContainerStats> {
        let r = self
            .rt
            .container_stats(ContainerStatsRequest {
                container_id: id.into(),
            })
            .await;
        let r = r
            .map_err(|s| status_text("ContainerStats", s))?
            .into_inner();
        r.stats.ok_or_else(|| "ContainerStats: no stats".into())
    }

    pub async fn reopen_log(&mut self, id: &str) -> Result<()> {
        let r = self
            .rt
            .reopen_container_log(ReopenContainerLogRequest {
                container_id: id.into(),
            })
            .await;
        r.map(|_| ())
            .map_err(|s| status_text("ReopenContainerLog", s))
    }

    /// ExecSync of `sh -c SCRIPT`: (stdout, stderr, exit code).
    pub async fn sh(&mut self, id: &str, script: &str) -> Result<(String, String, i32)> {
        let req = ExecSyncRequest {
            container_id: id.into(),
            cmd: vec!["sh".into(), "-c".into(), script.into()],
            timeout: 60,
        };
        let r = self
            .rt
            .exec_sync(req)
            .await
            .map_err(|s| status_text("ExecSync", s))?
            .into_inner();
        Ok((
            String::from_utf8_lossy(&r.stdout).into_owned(),
            String::from_utf8_lossy(&r.stderr).into_owned(),
            r.exit_code,
        ))
    }

    /// Polls ContainerStatus until the container has exited (kubelet's
    /// PLEG does the same); gives up after a minute.
    pub async fn wait_exited(&mut self, id: &str) -> Result<ContainerStatus> {
        for _ in 0..600 {
            let s = self.container_status(id).await?;
            if s.state == ContainerState::ContainerExited as i32 {
                return Ok(s);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(format!("container {id} did not exit within a minute"))
    }
}

pub fn image_spec(image: &str) -> ImageSpec {
    ImageSpec {
        image: image.into(),
        ..Default::default()
    }
}

/// The first number after `"key":` in a JSON text (the verbose info's pid).
fn json_number(text: &str, key: &str) -> Option<u32> {
    let at = text.find(&format!("\"{key}\":"))? + key.len() + 3;
    let digits: String = text[at..]
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    digits.parse().ok()
}
